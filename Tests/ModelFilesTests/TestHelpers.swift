// Shared helpers for the ModelFiles tests: fixture access, temporary files, error assertions and a
// small deterministic random source.

import Foundation
import ModelFiles
import Testing
import TestSupport

enum Fixture {
    static var directory: URL {
        Bundle.module.url(forResource: "Fixtures", withExtension: nil)!
    }

    static func json(_ name: String) throws -> Any {
        try JSONSerialization.jsonObject(with: Data(contentsOf: directory.appendingPathComponent(name)))
    }

    static func path(_ name: String) -> String { directory.appendingPathComponent(name).path }
}

/// A temporary directory removed when the value is released at the end of a test.
final class TempDir {
    let path: String
    init(_ label: String = "modelfiles") { path = TestPaths.temporaryDirectory(label) }
    deinit { try? FileManager.default.removeItem(atPath: path) }
    func file(_ name: String) -> String { path + "/" + name }

    func write(_ name: String, _ text: String) throws {
        try text.write(toFile: file(name), atomically: false, encoding: .utf8)
    }

    func write(_ name: String, _ bytes: [UInt8]) throws {
        try Data(bytes).write(to: URL(fileURLWithPath: file(name)))
    }

    func write(_ name: String, json: Any) throws {
        try JSONSerialization.data(withJSONObject: json, options: [.sortedKeys]).write(to: URL(fileURLWithPath: file(name)))
    }
}

/// Runs `body`, expecting a ModelFileError whose one-line message contains every part of `message`.
@discardableResult
func expectModelError(
    _ message: String..., kind: ModelFileError.Kind? = nil, sourceLocation: SourceLocation = #_sourceLocation,
    _ body: () throws -> Void
) -> ModelFileError? {
    expectModelError(message, kind: kind, sourceLocation: sourceLocation, body)
}

@discardableResult
func expectModelError(
    _ message: [String], kind: ModelFileError.Kind? = nil, sourceLocation: SourceLocation = #_sourceLocation,
    _ body: () throws -> Void
) -> ModelFileError? {
    do {
        try body()
        Issue.record("expected an error containing \(message)", sourceLocation: sourceLocation)
        return nil
    } catch let e as ModelFileError {
        for part in message {
            #expect(e.description.contains(part), "\"\(e.description)\" should contain \"\(part)\"", sourceLocation: sourceLocation)
        }
        if let kind { #expect(e.kind == kind, "\(e.description)", sourceLocation: sourceLocation) }
        #expect(!e.description.contains("\n"), sourceLocation: sourceLocation)
        return e
    } catch {
        Issue.record("expected a ModelFileError, got \(type(of: error)): \(error)", sourceLocation: sourceLocation)
        return nil
    }
}

/// Loads every tensor of a source into a fresh array.
func loadAll(_ source: any ModelSource) throws -> [String: [Float]] {
    var out: [String: [Float]] = [:]
    for t in source.tensors {
        var buf = [Float](repeating: .nan, count: t.elementCount)
        try buf.withUnsafeMutableBufferPointer { try source.load(t, into: $0.baseAddress!) }
        out[t.name] = buf
    }
    return out
}
