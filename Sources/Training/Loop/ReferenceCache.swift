// The reference log-probs are computed once per pair (adapters off) and kept on disk, keyed by the base
// fingerprint and a hash of the tokenized pairs (which covers the data and every tokenization setting),
// so a later run on the same base and data skips the reference pass entirely.

import Foundation
import TensorFile

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
    public static func key(fingerprint: String, pairs: [TokenizedPair], groups: [[Int]]) -> String {
        var h = XXHash64()
        h.update(Array("reference-groups-v1|\(key(fingerprint: fingerprint, pairs: pairs))".utf8))
        for g in groups {
            ([Int64(g.count)] + g.map(Int64.init)).withUnsafeBytes { h.update($0) }
        }
        return XXHash64.hex(h.finalize())
    }

    struct Entry: Codable {
        var key: String
        var logps: ReferenceLogps
    }

    public static func load(key: String) -> ReferenceLogps? {
        let path = directory + "/\(key).json"
        guard let data = FileManager.default.contents(atPath: path),
            let e = try? JSONDecoder().decode(Entry.self, from: data), e.key == key
        else { return nil }
        return e.logps
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
    }
}
