// Every loss (and combination) against TRL's own code: value, per-token gradient and metrics
// (Fixtures/loss_dpo_family.json, made by tools/reference/gen_loss_fixtures.py in float64).

import Foundation
import Testing
import Training

// MARK: - Fixture model

struct LossFixture: Decodable {
    struct Batch: Decodable {
        var seed: Int
        var lengths: [Int]
        var completionStart: [Int]
        var policy: [[Double]]  // (2B, L-1) per-token log-probs, rows [chosen…; rejected…]
        var reference: [[Double]]
        var meanLogits: [[Double]]
        /// The head's other per-token outputs: entropy, whether the target is the argmax, log Σ p².
        var entropy: [[Double]]
        var isTop1: [[Bool]]
        var logSumSq: [[Double]]
    }

    struct Config: Decodable {
        var losses: [String]
        var weights: [Double]
        var beta: Double
        var labelSmoothing: Double
        var ldAlpha: Double?
        var discopopTau: Double
        var simpoGamma: Double
        var orpoLambda: Double
        var fDivergenceType: String
        var fAlphaDivergenceCoef: Double
        var useWeighting: Bool
    }

    struct Case: Decodable, CustomTestStringConvertible {
        var batch: Int
        var config: Config
        var referenceFree: Bool
        var loss: Double
        var grad: [[Double]]
        var metrics: [String: Double]
        /// 64, or 32 where TRL computes in float32 (its alpha-divergence branch has no float64 clamp).
        var precision: Int?
        var testDescription: String {
            "\(config.losses)×\(config.weights) β=\(config.beta) ε=\(config.labelSmoothing) ld=\(config.ldAlpha.map { "\($0)" } ?? "-") "
                + "\(config.fDivergenceType)\(config.fDivergenceType == "alpha_divergence" ? " α=\(config.fAlphaDivergenceCoef)" : "")"
                + "\(config.useWeighting ? " WPO" : "") batch \(batch)"
        }
    }

    var batches: [Batch]
    var cases: [Case]

    static let shared: LossFixture = try! Fixture.decode(LossFixture.self, "loss_dpo_family.json")
}

// MARK: - Building inputs the way the trainer will

/// The sequences of a fixture batch: only lengths and completion starts matter to the loss.
func sequences(_ b: LossFixture.Batch) -> [TokenSequence] {
    b.lengths.indices.map {
        TokenSequence(ids: [Int](repeating: 0, count: b.lengths[$0]), completionStart: b.completionStart[$0], wasTruncated: false)
    }
}

/// Sums over scored tokens (and the tail beyond the shared length, the whole sequence, the logits) from per-token rows.
func lossInputs(_ b: LossFixture.Batch, referenceFree: Bool) -> LossInputs {
    let seqs = sequences(b)
    let n = seqs.count / 2
    func sums(_ rows: [[Double]], _ k: Int, shared: Int) -> (all: Double, tail: Double) {
        var all = 0.0, tail = 0.0, rank = 0
        for j in 0..<(seqs[k].ids.count - 1) where j + 1 >= seqs[k].completionStart {
            rank += 1
            all += rows[k][j]
            if rank > shared { tail += rows[k][j] }
        }
        return (all, tail)
    }
    var inputs = LossInputs(
        policyChosen: [], policyRejected: [],
        chosenCompletionTokens: (0..<n).map { seqs[$0].completionTokens },
        rejectedCompletionTokens: (0..<n).map { seqs[n + $0].completionTokens },
        chosenScoredTokens: (0..<n).map { seqs[$0].scoredTokens },
        rejectedScoredTokens: (0..<n).map { seqs[n + $0].scoredTokens })
    var pc: [Double] = [], pr: [Double] = [], pct: [Double] = [], prt: [Double] = []
    var rc: [Double] = [], rr: [Double] = [], rct: [Double] = [], rrt: [Double] = []
    var lc: [Double] = [], lr: [Double] = []
    var ec: [Double] = [], er: [Double] = [], top1: [Int] = [], ac: [Double] = [], ar: [Double] = []
    for i in 0..<n {
        ec.append(sums(b.entropy, i, shared: 0).all)
        er.append(sums(b.entropy, n + i, shared: 0).all)
        top1.append(Int(sums(b.isTop1.map { $0.map { $0 ? 1.0 : 0 } }, i, shared: 0).all))
        let aligned = zip(b.policy, b.logSumSq).map { zip($0, $1).map { $0 - $1 } }
        ac.append(sums(aligned, i, shared: 0).all)
        ar.append(sums(aligned, n + i, shared: 0).all)
    }
    for i in 0..<n {
        let shared = min(seqs[i].scoredTokens, seqs[n + i].scoredTokens)
        let a = sums(b.policy, i, shared: shared), c = sums(b.policy, n + i, shared: shared)
        pc.append(a.all); pct.append(a.tail); pr.append(c.all); prt.append(c.tail)
        let d = sums(b.reference, i, shared: shared), e = sums(b.reference, n + i, shared: shared)
        rc.append(d.all); rct.append(d.tail); rr.append(e.all); rrt.append(e.tail)
        lc.append(sums(b.meanLogits, i, shared: shared).all)
        lr.append(sums(b.meanLogits, n + i, shared: shared).all)
    }
    inputs.policyChosen = pc
    inputs.policyRejected = pr
    inputs.policyChosenTail = pct
    inputs.policyRejectedTail = prt
    if !referenceFree {
        inputs.referenceChosen = rc
        inputs.referenceRejected = rr
        inputs.referenceChosenTail = rct
        inputs.referenceRejectedTail = rrt
    }
    inputs.policyChosenSequence = (0..<n).map { i in (0..<(seqs[i].ids.count - 1)).reduce(0) { $0 + b.policy[i][$1] } }
    inputs.chosenSequenceTokens = (0..<n).map { seqs[$0].ids.count - 1 }
    inputs.chosenLogitSums = lc
    inputs.rejectedLogitSums = lr
    inputs.chosenEntropySums = ec
    inputs.rejectedEntropySums = er
    inputs.chosenTop1 = top1
    inputs.chosenAlignedSums = ac
    inputs.rejectedAlignedSums = ar
    return inputs
}

func lossConfig(_ c: LossFixture.Config) throws -> LossConfig {
    var config = LossConfig(
        losses: try LossConfig.parseLosses(c.losses, weights: c.weights), beta: c.beta, labelSmoothing: c.labelSmoothing,
        ldAlpha: c.ldAlpha, discopopTau: c.discopopTau, simpoGamma: c.simpoGamma, orpoLambda: c.orpoLambda)
    config.fDivergence = try #require(FDivergence(rawValue: c.fDivergenceType))
    config.alphaDivergenceCoef = c.fAlphaDivergenceCoef
    config.useWeighting = c.useWeighting
    return config
}

// MARK: - Tests

@Test func fixtureCoversEveryLossKind() {
    let covered = Set(LossFixture.shared.cases.flatMap(\.config.losses))
    // The unpaired losses are checked against TRL's KTOTrainer by KTOTests.swift (smollm2_kto.json).
    #expect(covered == Set(LossKind.allCases.filter { !$0.isUnpaired }.map(\.rawValue)))
}

/// rtol 1e-5 on the loss, each metric and each per-token gradient (both sides are float64, so the real agreement is
/// ~1e-13; atol 1e-12 covers gradients that are exactly zero on one side, e.g. hinge past its margin). TRL's float32
/// cases (alpha divergence) hold ~1e-7 relative: rtol 1e-5 stays, atol 1e-7 for gradients near zero.
@Test(arguments: LossFixture.shared.cases)
func lossMatchesTRL(_ c: LossFixture.Case) throws {
    let batch = LossFixture.shared.batches[c.batch]
    let config = try lossConfig(c.config)
    try config.validate()
    let inputs = lossInputs(batch, referenceFree: c.referenceFree)
    let result = DPOLoss.compute(inputs, config: config)
    let atol = c.precision == 32 ? 1e-7 : 1e-12
    func close(_ a: Double, _ b: Double) -> Bool { abs(a - b) <= atol + 1e-5 * abs(b) }
    #expect(close(result.loss, c.loss), "loss \(result.loss) vs TRL \(c.loss)")

    let seqs = sequences(batch)
    let n = seqs.count / 2
    var worst = 0.0
    for k in 0..<(2 * n) {
        let i = k % n
        let grads = result.gradient.tokenGradients(
            pair: i, chosen: k < n, sequence: seqs[k],
            sharedScoredTokens: min(seqs[i].scoredTokens, seqs[n + i].scoredTokens))
        for j in c.grad[k].indices {
            let mine = j < grads.count ? grads[j] : 0
            worst = max(worst, abs(mine - c.grad[k][j]) / (atol + 1e-5 * abs(c.grad[k][j])))
        }
    }
    #expect(worst <= 1, "per-token gradient off by \(worst)× the tolerance")

    for (key, expected) in c.metrics {
        let mine = try #require(result.metrics[key], "metric \(key) missing")
        #expect(close(mine, expected), "\(key): \(mine) vs TRL \(expected)")
    }
}

@Test func firstStepLossIsLn2WhenPolicyEqualsReference() {
    let logps = [-12.5, -3.25, -40.0]
    let inputs = LossInputs(
        policyChosen: logps, policyRejected: logps.map { $0 - 1 }, referenceChosen: logps,
        referenceRejected: logps.map { $0 - 1 }, chosenCompletionTokens: [3, 4, 5], rejectedCompletionTokens: [3, 4, 5],
        chosenScoredTokens: [3, 4, 5], rejectedScoredTokens: [3, 4, 5])
    let result = DPOLoss.compute(inputs, config: LossConfig())
    #expect(abs(result.loss - log(2)) < 1e-15)
    #expect(result.metrics[MetricKey.rewardsAccuracies] == 0)  // strict >: ties do not count
}

@Test func referenceFreeLossesNeedNoReference() {
    #expect(!LossConfig(losses: [WeightedLoss(.simpo), WeightedLoss(.sft, weight: 0.5)]).needsReference)
    #expect(!LossConfig(losses: [WeightedLoss(.orpo)]).needsReference)
    #expect(LossConfig(losses: [WeightedLoss(.simpo), WeightedLoss(.sigmoid)]).needsReference)
}

@Test func configValidation() throws {
    #expect(throws: LossConfigError.self) { try LossConfig(losses: [WeightedLoss(.exoPair)]).validate() }
    #expect(throws: LossConfigError.self) { try LossConfig(losses: [WeightedLoss(.robust)], labelSmoothing: 0.5).validate() }
    #expect(throws: LossConfigError.self) { try LossConfig(beta: 0).validate() }
    #expect(throws: LossConfigError.self) { try LossConfig(ldAlpha: 1.5).validate() }
    #expect(throws: LossConfigError.self) { try LossConfig(losses: []).validate() }
    #expect(throws: LossConfigError.self) { try LossConfig.parseLosses(["sigmoid", "dpo"]) }
    #expect(throws: LossConfigError.self) { try LossConfig.parseLosses(["sigmoid", "sft"], weights: [1]) }
    var fdpo = LossConfig(losses: [WeightedLoss(.sigmoid), WeightedLoss(.bcoPair)])
    fdpo.fDivergence = .jsDivergence
    #expect(throws: LossConfigError.self) { try fdpo.validate() }  // TRL: bco_pair has no f-DPO form
    var wpo = LossConfig(losses: [WeightedLoss(.aot)])
    wpo.useWeighting = true
    #expect(throws: LossConfigError.self) { try wpo.validate() }  // TRL: aot sorts pairs
    let parsed = try LossConfig.parseLosses(["sigmoid", "sft"], weights: [1, 0.25])
    #expect(parsed == [WeightedLoss(.sigmoid), WeightedLoss(.sft, weight: 0.25)])
    try LossConfig(losses: [WeightedLoss(.exoPair)], labelSmoothing: 1e-3).validate()
}
