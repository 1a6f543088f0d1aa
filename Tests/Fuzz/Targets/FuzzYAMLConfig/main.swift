// libFuzzer target: a `leandpo train --config` YAML file through TrainOptions.parseConfig (Yams.compose,
// our own scalar parsing, the alias budget) and then the option table.

import FuzzSupport
import Foundation
import Training

private func fuzzYAMLConfig(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = Data(UnsafeBufferPointer(start: data, count: size))
    guard let given = try? TrainOptions.parseConfig(bytes, path: "config.yaml") else { return 0 }
    var arguments = TrainArguments()
    _ = try? TrainOptions.apply(given, to: &arguments, source: "config.yaml")
    return 0
}

FuzzDriver.run { data, size in
    fuzzYAMLConfig(data, size)
}
