// Shared by the libFuzzer targets: the readers under test open paths (they memory-map), so each input is
// written to one scratch file in memory-backed /dev/shm, private to the fuzzing process.

import CFuzzDriver
import Foundation

/// Runs libFuzzer with this process's arguments on `test`. SwiftPM gives every executable its own main,
/// so the targets call libFuzzer's driver from there instead of relying on libFuzzer's main.
public enum FuzzDriver {
    public static func run(_ test: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> Never {
        var argc = CommandLine.argc
        var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
        exit(LLVMFuzzerRunDriver(&argc, &argv, test))
    }
}

public enum FuzzInput {
    /// A scratch path unique to this process (libFuzzer's -fork/-jobs run several processes).
    public static let scratchDirectory: String = {
        let base = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
        let dir = "\(base)/leandpo-fuzz-\(getpid())"
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }()

    /// Writes the input to `name` inside the scratch directory and returns its path.
    public static func file(_ data: UnsafePointer<UInt8>?, _ size: Int, name: String) -> String {
        let path = scratchDirectory + "/" + name
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        precondition(fd >= 0, "cannot write the fuzz scratch file \(path)")
        var written = 0
        while written < size {
            let n = write(fd, data! + written, size - written)
            precondition(n > 0, "cannot write the fuzz scratch file \(path)")
            written += n
        }
        close(fd)
        return path
    }

    public static func bytes(_ data: UnsafePointer<UInt8>?, _ size: Int) -> [UInt8] {
        Array(UnsafeBufferPointer(start: data, count: size))
    }

    public static func text(_ data: UnsafePointer<UInt8>?, _ size: Int) -> String {
        String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    }
}
