// How much more memory this process may take: the smaller of the machine's MemAvailable and what its
// memory cgroup (v1 or v2, the tightest limit on the path to the root) has left. Used to decide whether
// a training pass may trade memory for speed (kept activations): on a machine with room it should, under
// a tight cap it must not, since the anonymous memory it adds cannot be dropped the way mapped weight
// pages can. Linux only; nil where nothing can be read.

import Foundation

public enum MemoryRoom {
    /// Bytes this process can still allocate before the machine or its memory cgroup runs out, or nil.
    public static func available() -> Int? {
        let candidates = [memAvailable(), cgroupRoom()].compactMap { $0 }
        return candidates.min()
    }

    /// The default of `LlamaModel.keptActivationBytes` (`--memory-budget auto`): half of the room beyond
    /// the first GiB, so a capped or small machine keeps nothing and recomputes instead; 1 GiB when the
    /// room cannot be read. A pass takes only what its layers need (SmolLM2-135M keeps all of them in
    /// about 0.8 GB for a 1,300-token step), so a roomy machine's large budget costs nothing unused.
    public static func keptActivationDefault(room: Int? = available()) -> Int {
        guard let room else { return 1 << 30 }
        return max(0, room - (1 << 30)) / 2
    }

    // MARK: - Sources

    static func memAvailable() -> Int? {
        guard let text = read("/proc/meminfo") else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("MemAvailable:") {
            let parts = line.split(separator: " ", omittingEmptySubsequences: true)
            return parts.count >= 2 ? Int(parts[1]).map { $0 * 1024 } : nil
        }
        return nil
    }

    /// The least (limit − usage) over this process's memory cgroup and its ancestors.
    static func cgroupRoom() -> Int? {
        guard let text = read("/proc/self/cgroup") else { return nil }
        var room: Int?
        func consider(_ limit: Int?, _ usage: Int?) {
            guard let limit, let usage, limit < Int.max / 2 else { return }
            room = min(room ?? Int.max, max(0, limit - usage))
        }
        for line in text.split(separator: "\n") {
            let f = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard f.count == 3 else { continue }
            if f[0] == "0" && f[1].isEmpty {
                for dir in ancestors("/sys/fs/cgroup", String(f[2])) {
                    consider(number(dir + "/memory.max"), number(dir + "/memory.current"))
                }
            } else if f[1].split(separator: ",").contains("memory") {
                for dir in ancestors("/sys/fs/cgroup/memory", String(f[2])) {
                    consider(number(dir + "/memory.limit_in_bytes"), number(dir + "/memory.usage_in_bytes"))
                }
            }
        }
        return room
    }

    /// `root + path` and each of its parents up to `root`.
    static func ancestors(_ root: String, _ path: String) -> [String] {
        var parts = path.split(separator: "/").map(String.init)
        var out: [String] = []
        while true {
            out.append(([root] + parts).joined(separator: "/"))
            if parts.isEmpty { return out }
            parts.removeLast()
        }
    }

    /// A file holding one integer ("max" and unreadable files: nil).
    static func number(_ path: String) -> Int? {
        read(path).flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    }

    static func read(_ path: String) -> String? { try? String(contentsOfFile: path, encoding: .utf8) }
}
