// AdamW over one flat block of parameters, with torch.optim.AdamW's update order (decoupled weight decay first,
// bias corrections, eps added after sqrt(v̂)), and torch.nn.utils.clip_grad_norm_ over the same block.
// P = number of trainable parameters; parameters, gradients and both moments are contiguous (P) arrays.

import Foundation

// MARK: - Optimizer

public struct AdamW: Sendable {
    public var beta1: Double
    public var beta2: Double
    public var eps: Double
    public var weightDecay: Double
    /// Optimizer steps taken (torch's `state["step"]`); the next update uses step + 1 in its bias corrections.
    public private(set) var step: Int
    /// First moment `exp_avg` (P).
    public private(set) var m: [Float]
    /// Second moment `exp_avg_sq` (P).
    public private(set) var v: [Float]

    public init(parameterCount: Int, beta1: Double = 0.9, beta2: Double = 0.999, eps: Double = 1e-8, weightDecay: Double = 0) {
        precondition(parameterCount >= 0)
        self.beta1 = beta1
        self.beta2 = beta2
        self.eps = eps
        self.weightDecay = weightDecay
        self.step = 0
        self.m = [Float](repeating: 0, count: parameterCount)
        self.v = [Float](repeating: 0, count: parameterCount)
    }

    public var parameterCount: Int { m.count }

    // MARK: - State for checkpoints

    /// Everything a resume needs besides the hyper-parameters: exactly restoring it reproduces the next steps bit for bit.
    public struct State: Sendable, Equatable {
        public var step: Int
        public var m: [Float]
        public var v: [Float]

        public init(step: Int, m: [Float], v: [Float]) {
            self.step = step
            self.m = m
            self.v = v
        }
    }

    public var state: State { State(step: step, m: m, v: v) }

    /// Restores a saved state; throws when its sizes do not match this optimizer's parameter count.
    public mutating func restore(_ state: State) throws(AdamWStateError) {
        guard state.m.count == parameterCount, state.v.count == parameterCount else {
            throw AdamWStateError(
                message: "optimizer state holds \(state.m.count) first and \(state.v.count) second moments for \(parameterCount) parameters")
        }
        guard state.step >= 0 else { throw AdamWStateError(message: "optimizer state has a negative step \(state.step)") }
        step = state.step
        m = state.m
        v = state.v
    }

    // MARK: - Update

    /// One torch.optim.AdamW step (`_single_tensor_adam`, decoupled weight decay, amsgrad off):
    ///
    ///     param.mul_(1 - lr * weight_decay)
    ///     exp_avg.lerp_(grad, 1 - beta1)
    ///     exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
    ///     step_size = lr / (1 - beta1 ** step); bias_correction2_sqrt = (1 - beta2 ** step) ** 0.5
    ///     denom = (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(eps)
    ///     param.addcdiv_(exp_avg, denom, value=-step_size)
    ///
    /// Scalars are computed in Double and rounded to Float, as torch does with Python floats on float32 tensors.
    public mutating func update(parameters: UnsafeMutableBufferPointer<Float>, gradients: UnsafeBufferPointer<Float>, lr: Double) {
        let count = parameterCount
        precondition(parameters.count == count && gradients.count == count, "AdamW block size mismatch")
        step += 1
        let t = Double(step)
        let decay = Float(1 - lr * weightDecay)
        let w1 = Float(1 - beta1)
        let b2 = Float(beta2)
        let w2 = Float(1 - beta2)
        let negStepSize = Float(-(lr / (1 - pow(beta1, t))))
        let bc2Sqrt = Float(pow(1 - pow(beta2, t), 0.5))
        let epsF = Float(eps)
        let applyDecay = weightDecay != 0
        m.withUnsafeMutableBufferPointer { m in
            v.withUnsafeMutableBufferPointer { v in
                for i in 0..<count {
                    let g = gradients[i]
                    var p = parameters[i]
                    if applyDecay { p *= decay }
                    // torch lerp: weight < 0.5 ? self + weight * (end - self) : end - (end - self) * (1 - weight)
                    let mi = w1 < 0.5 ? m[i] + w1 * (g - m[i]) : g - (g - m[i]) * (1 - w1)
                    let vi = v[i] * b2 + w2 * g * g
                    m[i] = mi
                    v[i] = vi
                    let denom = vi.squareRoot() / bc2Sqrt + epsF
                    parameters[i] = p + negStepSize * (mi / denom)
                }
            }
        }
    }

    public mutating func update(parameters: inout [Float], gradients: [Float], lr: Double) {
        parameters.withUnsafeMutableBufferPointer { p in
            gradients.withUnsafeBufferPointer { g in update(parameters: p, gradients: g, lr: lr) }
        }
    }
}

public struct AdamWStateError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

// MARK: - Gradient clipping

public enum GradientClipping {
    /// The global L2 norm of a gradient block (accumulated in Double).
    public static func globalNorm(_ gradients: UnsafeBufferPointer<Float>) -> Double {
        var sum = 0.0
        for g in gradients {
            let d = Double(g)
            sum += d * d
        }
        return sum.squareRoot()
    }

    /// torch.nn.utils.clip_grad_norm_: `clip_coef = max_norm / (total_norm + 1e-6)`, gradients scaled by
    /// `min(clip_coef, 1)`. Returns the norm before clipping (what Hugging Face logs as `grad_norm`).
    @discardableResult
    public static func clip(_ gradients: UnsafeMutableBufferPointer<Float>, maxNorm: Double = 1.0) -> Double {
        let norm = globalNorm(UnsafeBufferPointer(gradients))
        let coef = Float(maxNorm) / (Float(norm) + 1e-6)
        if coef < 1 {
            for i in gradients.indices { gradients[i] *= coef }
        }
        return norm
    }

    @discardableResult
    public static func clip(_ gradients: inout [Float], maxNorm: Double = 1.0) -> Double {
        gradients.withUnsafeMutableBufferPointer { clip($0, maxNorm: maxNorm) }
    }

    public static func globalNorm(_ gradients: [Float]) -> Double {
        gradients.withUnsafeBufferPointer { globalNorm($0) }
    }
}
