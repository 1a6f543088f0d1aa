// AdamW (+ clip_grad_norm_) against torch.optim.AdamW trajectories, LR schedules against transformers.get_scheduler
// (Fixtures/loss_adamw.json, loss_lr_schedules.json), and an exact resume from saved optimizer state.

import Foundation
import Testing
import Training

// MARK: - AdamW

struct AdamWFixture: Decodable {
    struct Step: Decodable {
        var lr: Double
        var grad: [Float]
        var gradNorm: Double?
        var params: [Float]
    }

    struct Case: Decodable, CustomTestStringConvertible {
        var beta1: Double
        var beta2: Double
        var eps: Double
        var weightDecay: Double
        var maxNorm: Double?
        var initial: [Float]
        var steps: [Step]
        var m: [Float]
        var v: [Float]
        var step: Int
        var testDescription: String { "β=(\(beta1), \(beta2)) eps=\(eps) wd=\(weightDecay) clip=\(maxNorm.map { "\($0)" } ?? "-")" }
    }

    var cases: [Case]
    static let shared: AdamWFixture = try! Fixture.decode(AdamWFixture.self, "loss_adamw.json")
}

/// float32 on both sides with the same operation order, but torch's vectorised kernels may fuse or reorder a
/// multiply-add, so allow a few ulps: rtol 1e-6 + atol 1e-7 (parameters ~1, updates ~lr ≥ 1e-3) per step.
@Test(arguments: AdamWFixture.shared.cases)
func adamwMatchesTorch(_ c: AdamWFixture.Case) {
    var opt = AdamW(parameterCount: c.initial.count, beta1: c.beta1, beta2: c.beta2, eps: c.eps, weightDecay: c.weightDecay)
    var params = c.initial
    for (k, step) in c.steps.enumerated() {
        var grads = step.grad
        if let maxNorm = c.maxNorm {
            let norm = GradientClipping.clip(&grads, maxNorm: maxNorm)
            #expect(close(norm, step.gradNorm!, rtol: 1e-6), "step \(k) grad norm \(norm) vs \(step.gradNorm!)")
        }
        opt.update(parameters: &params, gradients: grads, lr: step.lr)
        let worst = zip(params, step.params).map { abs($0 - $1) / (1e-7 + 1e-6 * abs($1)) }.max()!
        #expect(worst <= 1, "step \(k): parameters off by \(worst)× the tolerance")
    }
    #expect(opt.step == c.step)
    #expect(zip(opt.m, c.m).allSatisfy { abs($0 - $1) <= 1e-7 + 1e-5 * abs($1) })
    #expect(zip(opt.v, c.v).allSatisfy { abs($0 - $1) <= 1e-9 + 1e-5 * abs($1) })
}

@Test func adamwResumesExactlyFromSavedState() throws {
    let c = AdamWFixture.shared.cases[1]
    var straight = AdamW(parameterCount: c.initial.count, weightDecay: c.weightDecay)
    var p1 = c.initial
    for s in c.steps { straight.update(parameters: &p1, gradients: s.grad, lr: s.lr) }

    var first = AdamW(parameterCount: c.initial.count, weightDecay: c.weightDecay)
    var p2 = c.initial
    for s in c.steps.prefix(2) { first.update(parameters: &p2, gradients: s.grad, lr: s.lr) }
    let saved = first.state
    var resumed = AdamW(parameterCount: c.initial.count, weightDecay: c.weightDecay)
    try resumed.restore(saved)
    for s in c.steps.dropFirst(2) { resumed.update(parameters: &p2, gradients: s.grad, lr: s.lr) }
    #expect(p1 == p2)
    #expect(resumed.state == straight.state)

    var wrong = AdamW(parameterCount: 3)
    #expect(throws: AdamWStateError.self) { try wrong.restore(saved) }
}

@Test func clippingLeavesSmallGradientsAlone() {
    var g: [Float] = [0.3, -0.4]  // norm 0.5
    let norm = GradientClipping.clip(&g, maxNorm: 1.0)
    #expect(abs(norm - 0.5) < 1e-7)
    #expect(g == [0.3, -0.4])
    var big: [Float] = [3, 4]  // norm 5 → scaled by 1/(5 + 1e-6)
    GradientClipping.clip(&big, maxNorm: 1.0)
    #expect(abs(GradientClipping.globalNorm(big) - 1) < 1e-6)
}

// MARK: - LR schedules

struct LRFixture: Decodable {
    struct Case: Decodable, CustomTestStringConvertible {
        var scheduler: String
        var kind: String
        var total: Int
        var warmupSteps: Int?
        var warmupRatio: Double?
        var resolvedWarmup: Int
        var baseLr: Double
        var lrs: [Double]
        var testDescription: String { "\(scheduler) total \(total) warmup \(warmupSteps.map { "\($0)" } ?? "ratio \(warmupRatio!)")" }
    }

    var cases: [Case]
    static let shared: LRFixture = try! Fixture.decode(LRFixture.self, "loss_lr_schedules.json")
}

/// Same formulas in Double on both sides: rtol 1e-12.
@Test(arguments: LRFixture.shared.cases)
func scheduleMatchesTransformers(_ c: LRFixture.Case) throws {
    let kind = try #require(LRSchedule.Kind(rawValue: c.kind))
    let warmup: LRSchedule.Warmup = c.warmupRatio.map { .ratio($0) } ?? .steps(c.warmupSteps!)
    let schedule = LRSchedule(kind: kind, baseLR: c.baseLr, totalSteps: c.total, warmup: warmup)
    #expect(schedule.warmupSteps == c.resolvedWarmup)
    for (step, expected) in c.lrs.enumerated() {
        #expect(close(schedule.lr(at: step), expected, rtol: 1e-12, atol: 1e-20), "step \(step): \(schedule.lr(at: step)) vs \(expected)")
    }
}
