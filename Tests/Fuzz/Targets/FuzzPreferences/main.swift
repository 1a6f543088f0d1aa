// libFuzzer target: a preference data file (JSONL or a JSON array; standard or conversational records,
// explicit or implicit prompt) through PreferenceData.parse, strict and with --skip-invalid.

import FuzzSupport
import Training

private func fuzzPreferences(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = FuzzInput.bytes(data, size)
    _ = try? PreferenceData.parse(bytes, file: "data.jsonl")
    _ = try? PreferenceData.parse(bytes, file: "data.jsonl", skipInvalid: true)
    return 0
}

FuzzDriver.run { data, size in
    fuzzPreferences(data, size)
}
