// A partial set of training options: what the command line gave, or what a `--config` file holds.
// Layering them (defaults, then the config file, then the command line) gives the run's TrainArguments.

import Foundation
import Model

public struct TrainOptions: Codable, Sendable {
    public var model: String?
    public var data: String?
    public var evalData: String?
    public var evalSplit: Double?
    public var output: String?
    public var initAdapter: String?
    public var loraTargets: String?
    public var loraR: Int?
    public var loraAlpha: Double?
    public var rslora: Bool?
    public var loraDropout: Double?
    public var seed: UInt64?
    public var loss: String?
    public var lossWeights: String?
    public var beta: Double?
    public var labelSmoothing: Double?
    public var ldAlpha: Double?
    public var simpoGamma: Double?
    public var orpoLambda: Double?
    public var discopopTau: Double?
    public var maxLength: Int?
    public var truncationMode: String?
    public var skipInvalid: Bool?
    public var noShuffle: Bool?
    public var lr: Double?
    public var lrSchedulerType: String?
    public var warmupSteps: Int?
    public var warmupRatio: Double?
    public var adamBeta1: Double?
    public var adamBeta2: Double?
    public var adamEpsilon: Double?
    public var weightDecay: Double?
    public var maxGradNorm: Double?
    public var batchSize: Int?
    public var gradAccum: Int?
    public var epochs: Double?
    public var maxSteps: Int?
    public var loggingSteps: Int?
    public var evalSteps: Int?
    public var saveSteps: Int?
    public var saveTotalLimit: Int?
    public var threads: Int?

    public init() {}

    /// Reads a JSON config file whose keys are the command-line option names (`lora-r` or `lora_r`).
    /// Unknown keys are an error naming them.
    public static func load(jsonFile path: String) throws -> TrainOptions {
        guard let data = FileManager.default.contents(atPath: path) else { throw ArgumentError("\(path): cannot read") }
        let object: Any
        do { object = try JSONSerialization.jsonObject(with: data) } catch {
            throw ArgumentError("\(path): not valid JSON (\((error as NSError).localizedDescription))")
        }
        guard let dict = object as? [String: Any] else { throw ArgumentError("\(path): the config must be one JSON object") }
        return try fromDictionary(dict, file: path)
    }

    /// Builds options from a key → value dictionary (from JSON or YAML).
    public static func fromDictionary(_ dict: [String: Any], file: String) throws -> TrainOptions {
        var normalized: [String: Any] = [:]
        let known = Set(Mirror(reflecting: TrainOptions()).children.compactMap(\.label))
        for (k, v) in dict {
            let snake = k.replacingOccurrences(of: "-", with: "_")
            let camel = snake.split(separator: "_").enumerated().map { $0 == 0 ? String($1) : $1.prefix(1).uppercased() + $1.dropFirst() }.joined()
            guard known.contains(camel) else { throw ArgumentError("\(file): unknown option '\(k)'") }
            // Lists may be written as arrays in the file; the command line spells them comma-separated.
            if let list = v as? [Any] { normalized[snake] = list.map { "\($0)" }.joined(separator: ",") } else { normalized[snake] = v }
        }
        let data = try JSONSerialization.data(withJSONObject: normalized)
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        do { return try decoder.decode(TrainOptions.self, from: data) } catch let DecodingError.typeMismatch(_, ctx) {
            throw ArgumentError("\(file): option '\(ctx.codingPath.map(\.stringValue).joined(separator: "."))' has the wrong type")
        } catch {
            throw ArgumentError("\(file): \(error)")
        }
    }

    /// Applies every option that is set onto `a`.
    public func apply(to a: inout TrainArguments) throws {
        if let v = model { a.model = v }
        if let v = data { a.data = v }
        if let v = evalData { a.evalData = v }
        if let v = evalSplit { a.evalSplit = v }
        if let v = output { a.output = v }
        if let v = initAdapter { a.initAdapter = v }
        if let v = loraTargets { a.lora.targets = try LoRATarget.parseList(v) }
        if let v = loraR { a.lora.r = v }
        if let v = loraAlpha { a.lora.alpha = v }
        if let v = rslora { a.lora.rslora = v }
        if let v = loraDropout { a.lora.dropout = v }
        if let v = seed { a.seed = v }
        if let v = loss { a.loss = v.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
        if let v = lossWeights {
            a.lossWeights = try v.split(separator: ",").map {
                guard let d = Double($0.trimmingCharacters(in: .whitespaces)) else { throw ArgumentError("--loss-weights: '\($0)' is not a number") }
                return d
            }
        }
        if let v = beta { a.beta = v }
        if let v = labelSmoothing { a.labelSmoothing = v }
        if let v = ldAlpha { a.ldAlpha = v }
        if let v = simpoGamma { a.simpoGamma = v }
        if let v = orpoLambda { a.orpoLambda = v }
        if let v = discopopTau { a.discopopTau = v }
        if let v = maxLength { a.maxLength = v }
        if let v = truncationMode { a.truncationMode = v }
        if let v = skipInvalid { a.skipInvalid = v }
        if let v = noShuffle { a.shuffle = !v }
        if let v = lr { a.lr = v }
        if let v = lrSchedulerType { a.lrSchedulerType = v }
        if let v = warmupSteps { a.warmupSteps = v }
        if let v = warmupRatio { a.warmupRatio = v }
        if let v = adamBeta1 { a.adamBeta1 = v }
        if let v = adamBeta2 { a.adamBeta2 = v }
        if let v = adamEpsilon { a.adamEpsilon = v }
        if let v = weightDecay { a.weightDecay = v }
        if let v = maxGradNorm { a.maxGradNorm = v }
        if let v = batchSize { a.batchSize = v }
        if let v = gradAccum { a.gradAccum = v }
        if let v = epochs { a.epochs = v }
        if let v = maxSteps { a.maxSteps = v }
        if let v = loggingSteps { a.loggingSteps = v }
        if let v = evalSteps { a.evalSteps = v }
        if let v = saveSteps { a.saveSteps = v }
        if let v = saveTotalLimit { a.saveTotalLimit = v }
        if let v = threads { a.threads = v }
    }
}
