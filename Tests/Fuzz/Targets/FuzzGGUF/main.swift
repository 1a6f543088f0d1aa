// libFuzzer target: a GGUF file through GGUFFile (header, metadata, tensor table) and then the model
// import on top of it (config, tokenizer and chat template from the metadata, the conversion plan).

import FuzzSupport
import ModelFiles

private func fuzzGGUF(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let path = FuzzInput.file(data, size, name: "model.gguf")
    guard let file = try? GGUFFile(path: path) else { return 0 }
    for t in file.tensors { _ = file.data(t).count }
    if let source = try? GGUFModelSource(file: file) { _ = try? Converter.plan(source) }
    return 0
}

FuzzDriver.run { data, size in
    fuzzGGUF(data, size)
}
