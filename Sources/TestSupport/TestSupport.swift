// Helpers shared by the test targets: temporary directories, tolerances, fixture paths (tiny models in
// TinyModels.swift, seeded test data in Random.swift).

import Foundation

public enum TestPaths {
    /// A fresh temporary directory, removed by the caller when it wants.
    public static func temporaryDirectory(_ label: String = "leandpo") -> String {
        let dir = NSTemporaryDirectory() + "\(label)-\(UUID().uuidString)"
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    /// The repository root (the directory holding Package.swift), found from this source file.
    public static var repositoryRoot: String {
        var url = URL(fileURLWithPath: #filePath)
        while url.path != "/" {
            url.deleteLastPathComponent()
            if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) {
                return url.path
            }
        }
        return FileManager.default.currentDirectoryPath
    }

    /// The demo model converted by tools/fetch-model (f32 MTF), if present: `LEANDPO_MODEL`, else the
    /// cache tools/fetch-model fills (`LEANDPO_CACHE`, else `.cache` in the repository).
    public static var smolLM2: String? {
        let env = ProcessInfo.processInfo.environment
        let cache = env["LEANDPO_CACHE"].flatMap { $0.isEmpty ? nil : $0 } ?? repositoryRoot + "/.cache"
        let p = env["LEANDPO_MODEL"] ?? cache + "/models/SmolLM2-135M-Instruct.f32.mtf"
        return FileManager.default.fileExists(atPath: p) ? p : nil
    }

    /// tools/test sets `LEANDPO_REQUIRE_TEST_MODEL=1` after fetching the model, so there a missing model
    /// is a failure (`TestModelPresenceTests`), not a quiet skip of every test that needs it.
    public static var testModelRequired: Bool { ProcessInfo.processInfo.environment["LEANDPO_REQUIRE_TEST_MODEL"] == "1" }
}

/// Largest |a-b| / (atol + rtol*|b|) over two arrays; ≤ 1 means within tolerance.
public func toleranceRatio(_ a: [Float], _ b: [Float], atol: Float, rtol: Float) -> Float {
    precondition(a.count == b.count)
    var worst: Float = 0
    for i in a.indices {
        let r = abs(a[i] - b[i]) / (atol + rtol * abs(b[i]))
        if !(r <= worst) { worst = r.isNaN ? .infinity : r }
    }
    return worst
}

public func maxAbsDiff(_ a: [Float], _ b: [Float]) -> Float {
    precondition(a.count == b.count)
    var m: Float = 0
    for i in a.indices { m = max(m, abs(a[i] - b[i])) }
    return m
}

/// The central difference (f(x + eps) − f(x − eps)) / (2·eps) of `f` in `values[index]`, divided by the
/// step the stored Float values actually took (x ± eps rounds); the value is restored afterwards.
public func centralDifference(
    _ values: UnsafeMutableBufferPointer<Float>, at index: Int, eps: Float, _ f: () throws -> Double
) rethrows -> Double {
    let saved = values[index]
    defer { values[index] = saved }
    values[index] = saved + eps
    let up = Double(values[index])
    let fUp = try f()
    values[index] = saved - eps
    let down = Double(values[index])
    let fDown = try f()
    return (fUp - fDown) / (up - down)
}
