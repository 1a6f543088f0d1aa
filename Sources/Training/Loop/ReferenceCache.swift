// The reference log-probs are computed once per pair (the base with adapters off, or base + a run's initial
// adapter) and kept on disk, keyed by the base fingerprint, the reference adapter's hash if any, and a hash of
// the tokenized pairs (which covers the data and every tokenization setting),
// so a later run on the same base and data skips the reference pass entirely. The fingerprint covers the
// header's checksums, not the bytes, so a base file's tensors are verified against those checksums the
// first time that file (device, inode, size, mtime) is used with the cache. The cache holds at most
// `sizeLimit` bytes, least recently used entries going first; `leandpo cache --clear` empties it.

import Foundation
import Model
import TensorFile

#if canImport(Glibc)
    import Glibc
#endif

public enum ReferenceCache {
    /// `$LEANDPO_CACHE/reference`, else `$XDG_CACHE_HOME/leandpo/reference`, else `~/.cache/leandpo/reference`.
    public static var directory: String {
        let env = ProcessInfo.processInfo.environment
        if let c = env["LEANDPO_CACHE"], !c.isEmpty { return c + "/reference" }
        if let x = env["XDG_CACHE_HOME"], !x.isEmpty { return x + "/leandpo/reference" }
        return NSHomeDirectory() + "/.cache/leandpo/reference"
    }

    /// The key: XXH64 over the fingerprint and every pair's token ids and completion boundaries.
    public static func key(fingerprint: String, pairs: [TokenizedPair]) -> String {
        var h = XXHash64()
        h.update(Array("reference-v1|\(fingerprint)".utf8))
        for p in pairs {
            for s in [p.chosen, p.rejected] {
                let header = [Int64(s.ids.count), Int64(s.completionStart)]
                header.withUnsafeBytes { h.update($0) }
                s.ids.map(Int32.init).withUnsafeBytes { h.update($0) }
            }
        }
        return XXHash64.hex(h.finalize())
    }

    /// The cache key of reference log-probs scored in `groups` (packed batches of pair indices) with shared
    /// prompts: `key` plus the grouping, since a sequence's log-probs depend in the last bits on its place in
    /// the packed stream. (Log-probs of the unshared packing, a benchmark switch, are never cached.)
    /// `adapter` (`adapterKey`) names a reference that is base + that adapter; nil, the base with adapters off.
    public static func key(fingerprint: String, pairs: [TokenizedPair], groups: [[Int]], adapter: String? = nil) -> String {
        var h = XXHash64()
        h.update(Array("reference-groups-v1|\(key(fingerprint: fingerprint, pairs: pairs))".utf8))
        for g in groups {
            ([Int64(g.count)] + g.map(Int64.init)).withUnsafeBytes { h.update($0) }
        }
        if let adapter { h.update(Array("|adapter \(adapter)".utf8)) }
        return XXHash64.hex(h.finalize())
    }

    /// The identity of a reference adapter: its shape (rank, scaling, targets) and every parameter's bits.
    public static func adapterKey(_ a: LoRAAdapter) -> String {
        var h = XXHash64()
        let c = a.config
        h.update(Array("reference-adapter-v1|r \(c.r)|scale \(c.scale.bitPattern)|\(c.targets.map(\.rawValue).joined(separator: ","))|".utf8))
        h.update(UnsafeRawBufferPointer(a.parameters))
        return XXHash64.hex(h.finalize())
    }

    /// Entries beyond this total (bytes) are removed, least recently used first.
    public static let sizeLimit = 256 << 20

    struct Entry: Codable {
        var key: String
        var logps: ReferenceLogps
    }

    /// The entry for `key` if it holds exactly `count` pairs in each of its arrays; anything else
    /// (missing, unreadable, another key, arrays of unequal lengths) is a miss, to be recomputed.
    public static func load(key: String, count: Int) -> ReferenceLogps? {
        let path = directory + "/\(key).json"
        guard let bytes = try? RegularFile.read(path),
            let e = try? JSONDecoder().decode(Entry.self, from: Data(bytes)), e.key == key
        else { return nil }
        let l = e.logps
        guard [l.chosen.count, l.rejected.count, l.chosenTail.count, l.rejectedTail.count].allSatisfy({ $0 == count }) else { return nil }
        utime(path, nil)  // recently used: pruned last
        return l
    }

    /// Best effort: a cache that cannot be written only costs time later.
    public static func store(_ logps: ReferenceLogps, key: String) {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let data = try JSONEncoder().encode(Entry(key: key, logps: logps))
            let file = try AtomicFileWriter(path: directory + "/\(key).json")
            try file.write([UInt8](data))
            try file.commit()
        } catch {}
        prune(keepingBytes: sizeLimit)
    }

    // MARK: - Verified bases

    /// Verifies `file`'s tensor checksums unless this file (same identity) was verified before, and
    /// remembers it. A copy of the base with damaged weights but an intact header throws here instead of
    /// filling the cache with its log-probs under the good file's fingerprint.
    public static func ensureVerified(_ file: MappedTensorFile) throws {
        let marker = directory + "/verified/\(file.fingerprint)-\(file.identity)"
        if FileManager.default.fileExists(atPath: marker) { return }
        try file.verify()
        try? FileManager.default.createDirectory(atPath: directory + "/verified", withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: marker, contents: Data(file.path.utf8))
    }

    // MARK: - Listing and clearing

    public struct Listing: Sendable {
        public var entries: Int
        public var bytes: Int
        public var verifiedBases: Int
    }

    /// What the cache holds now.
    public static func list() -> Listing {
        let files = entryFiles()
        let verified = (try? FileManager.default.contentsOfDirectory(atPath: directory + "/verified"))?.count ?? 0
        return Listing(entries: files.count, bytes: files.reduce(0) { $0 + $1.bytes }, verifiedBases: verified)
    }

    /// Removes every entry and verification marker; returns what was removed.
    @discardableResult
    public static func clear() throws -> Listing {
        let before = list()
        let fm = FileManager.default
        for f in entryFiles() { try fm.removeItem(atPath: f.path) }
        if fm.fileExists(atPath: directory + "/verified") { try fm.removeItem(atPath: directory + "/verified") }
        return before
    }

    /// Removes the least recently used entries until the rest fit in `keepingBytes`.
    public static func prune(keepingBytes limit: Int) {
        var files = entryFiles().sorted { $0.used < $1.used }
        var total = files.reduce(0) { $0 + $1.bytes }
        while total > limit, !files.isEmpty {
            let f = files.removeFirst()
            if unlink(f.path) == 0 { total -= f.bytes }
        }
    }

    private static func entryFiles() -> [(path: String, bytes: Int, used: Double)] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.filter { $0.hasSuffix(".json") && !$0.hasPrefix(".") }.compactMap { name in
            let path = directory + "/" + name
            var st = stat()
            guard lstat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { return nil }
            return (path, Int(st.st_size), Double(st.st_mtim.tv_sec) + Double(st.st_mtim.tv_nsec) / 1e9)
        }
    }
}
