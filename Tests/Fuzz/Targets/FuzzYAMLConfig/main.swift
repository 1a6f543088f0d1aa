// libFuzzer target: a `leandpo train --config` YAML file: Yams.load (what Train.swift calls), then the
// mapping through TrainOptions.fromDictionary, the public step that turns it into options.

import FuzzSupport
import Training
import Yams

private func fuzzYAMLConfig(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    guard let object = try? Yams.load(yaml: text), let dict = object as? [String: Any] else { return 0 }
    _ = try? TrainOptions.fromDictionary(dict, file: "config.yaml")
    return 0
}

FuzzDriver.run { data, size in
    fuzzYAMLConfig(data, size)
}
