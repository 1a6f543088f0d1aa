// Issue 13's recipes against the TensorFile layer: temporary files that cannot be hijacked or be too
// long, the directory lock, absurd headers and configs refused with one line, FIFOs that do not block.

import Foundation
import TensorFile
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

// MARK: - Temporary files

@Test func atomicWriterNeverFollowsAPlantedSymlinkAndUsesUnpredictableNames() throws {
    let dir = TestPaths.temporaryDirectory()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    // Recipe: plant symlinks at the old predictable names (.NAME.tmp-<pid>) pointing at a victim file.
    let victim = dir + "/victim.txt"
    try Data("precious".utf8).write(to: URL(fileURLWithPath: victim))
    for pid in getpid()..<(getpid() + 50) { symlink(victim, dir + "/.out.bin.tmp-\(pid)") }
    let w = try AtomicFileWriter(path: dir + "/out.bin")
    #expect(!w.temporaryPath.hasSuffix("-\(getpid())"), "the temporary name is not the pid")
    var st = stat()
    #expect(lstat(w.temporaryPath, &st) == 0 && (st.st_mode & S_IFMT) == S_IFREG, "a new regular file, not a link")
    #expect(st.st_mode & 0o777 == 0o600, "private until committed")
    try w.write(Array("new".utf8))
    try w.commit()
    #expect(String(decoding: FileManager.default.contents(atPath: victim)!, as: UTF8.self) == "precious")
    #expect(String(decoding: FileManager.default.contents(atPath: dir + "/out.bin")!, as: UTF8.self) == "new")
    let second = try AtomicFileWriter(path: dir + "/out.bin")
    #expect(second.temporaryPath != w.temporaryPath, "each writer draws a fresh name")
}

@Test func atomicWriterKeepsTheReplacedFilesModeAndHandlesTheLongestLegalName() throws {
    let dir = TestPaths.temporaryDirectory()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    // Recipe: a 249-character file name (legal: NAME_MAX is 255) failed when ".NAME.tmp-PID" was longer.
    let long = dir + "/" + String(repeating: "n", count: 245) + ".mtf"
    let w = try AtomicFileWriter(path: long)
    try w.write([1, 2, 3])
    try w.commit()
    #expect(FileManager.default.contents(atPath: long) == Data([1, 2, 3]))
    chmod(long, 0o640)
    let again = try AtomicFileWriter(path: long)
    try again.write([4])
    try again.commit()
    var st = stat()
    #expect(stat(long, &st) == 0 && st.st_mode & 0o777 == 0o640, "a replaced file keeps its mode")
    #expect(try FileManager.default.contentsOfDirectory(atPath: dir).count == 1, "no temporary file left")
}

// MARK: - Directory lock

@Test func directoryLockRefusesASecondHolderNamingThePid() throws {
    let dir = TestPaths.temporaryDirectory()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    var first: DirectoryLock? = try DirectoryLock(directory: dir)
    // flock is per open file description: a second open in the same process conflicts just like another process.
    do {
        _ = try DirectoryLock(directory: dir)
        Issue.record("a second lock was granted")
    } catch let busy as DirectoryLock.Busy {
        #expect(busy.holder == getpid())
        #expect(busy.description.contains("pid \(getpid())"))
    }
    withExtendedLifetime(first) {}
    first = nil  // released: the next taker succeeds
    _ = try DirectoryLock(directory: dir)
}

// MARK: - Headers and configs

@Test func absurdHeaderArraysAreRefusedBeforeDecoding() throws {
    // Recipe: a shape of millions of ones (the tester's 131M-element shape); 20 already exceed any real rank.
    let text = try openError { b in editTensor(&b, 0) { $0["shape"] = [Int](repeating: 1, count: 20) + [32, 64] } }
    #expect(text.contains("more than 8 dimensions"), "\(text)")
}

@Test func errorLinesAreCutToASensibleLength() {
    let e = TensorFileError.badHeader(path: "m.mtf", what: "shape [" + String(repeating: "1, ", count: 100_000) + "]")
    #expect(e.description.count < 500)
    #expect(e.description.hasPrefix("m.mtf: bad header: shape [1, 1"))
}

@Test(arguments: [
    ("max_position_embeddings", 0, "max_position_embeddings"), ("max_position_embeddings", -5, "max_position_embeddings"),
    ("bos_token_id", 1 << 40, "bos_token_id"), ("eos_token_ids", 99, "eos_token_id"),
])
func configsThatWouldTrapLaterAreRefusedAtOpen(key: String, value: Int, expected: String) throws {
    // Recipe: a config that converts but crashed every later command (RoPE precondition, Int32(eos)).
    let text = try openError { b in
        rewriteHeader(&b) { o in
            var m = o["metadata"] as! [String: Any]
            var c = m["config"] as! [String: Any]
            c[key] = key == "eos_token_ids" ? [value] : value
            m["config"] = c
            o["metadata"] = m
        }
    }
    #expect(text.contains(expected), "\(text)")
}

@Test func theSameConfigCheckRunsBeforeWriting() {
    var c = tinyConfig()
    c.maxPositionEmbeddings = 0
    #expect(throws: ConfigError.self) { try c.validate() }
    c = tinyConfig()
    c.eosTokenIds = [Int(Int32.max) + 1]
    #expect(throws: ConfigError.self) { try c.validate() }
    #expect(
        tinyConfig(layers: 1).unexpectedLayerTensors(["model.layers.1.mlp.up_proj.weight", "model.norm.weight"]) == [
            "model.layers.1.mlp.up_proj.weight"
        ])
}

// MARK: - Non-regular files

@Test func aFIFOGivenAsAModelIsRefusedWithoutBlocking() throws {
    let dir = TestPaths.temporaryDirectory()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let fifo = dir + "/model.mtf"
    #expect(mkfifo(fifo, 0o600) == 0)
    // Recipe: open() of a FIFO with no writer blocked forever.
    do {
        _ = try MappedTensorFile(path: fifo)
        Issue.record("a FIFO opened")
    } catch {
        #expect("\(error)".contains("FIFO"), "\(error)")
    }
    func readError(_ path: String) -> String {
        do {
            _ = try RegularFile.read(path)
            return "read"
        } catch { return error.description }
    }
    #expect(readError(fifo).contains("FIFO"))
    #expect(readError(dir).contains("is a directory"))
    #expect(readError("/dev/null").contains("character device"))
}
