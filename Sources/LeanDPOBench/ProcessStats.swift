// What the benchmark reads about its own process and machine from /proc and the cgroup files: resident
// memory (peak total and a sampled peak of anonymous memory), time since the process started, the load
// average, and the memory cgroup's cap and peak. Linux only; fields it cannot read come back nil.

import Foundation

// MARK: - /proc/self/status

enum ProcStatus {
    /// A "Key:   123 kB" field of /proc/self/status, in bytes.
    static func bytes(_ key: String) -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix(key + ":") {
            let parts = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard parts.count >= 2, let kb = Int(parts[1]) else { return nil }
            return kb * 1024
        }
        return nil
    }

    /// Peak resident set (VmHWM): anonymous memory plus the pages of the mapped model that were touched.
    static var peakResident: Int? { bytes("VmHWM") }
    static var anonymous: Int? { bytes("RssAnon") }
    static var fileBacked: Int? { bytes("RssFile") }
}

// MARK: - Sampler

/// Samples RssAnon every `interval` on a background thread and keeps the peak (the kernel keeps no
/// high-water mark for anonymous memory alone).
final class AnonPeakSampler: @unchecked Sendable {
    private let lock = NSLock()
    private var peak = 0
    private var running = true
    private var thread: Thread?

    init(interval: TimeInterval = 0.02) {
        sample()
        let t = Thread { [self] in
            while lock.withLock({ running }) {
                sample()
                Thread.sleep(forTimeInterval: interval)
            }
        }
        t.stackSize = 1 << 16
        thread = t
        t.start()
    }

    func sample() {
        guard let a = ProcStatus.anonymous else { return }
        lock.withLock { peak = max(peak, a) }
    }

    /// Stops sampling and returns the peak seen, in bytes.
    func stop() -> Int {
        sample()
        return lock.withLock {
            running = false
            return peak
        }
    }

    var current: Int { lock.withLock { peak } }
}

// MARK: - Time

enum ProcessClock {
    /// Seconds since this process started: /proc/self/stat's start time (clock ticks after boot) against
    /// CLOCK_BOOTTIME, so dynamic loading and runtime start-up are included.
    static func sinceStart() -> Double? {
        guard let stat = try? String(contentsOfFile: "/proc/self/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return nil }
        // Fields after the command name; starttime is field 22 overall, the 20th after ")".
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 19, let ticks = Double(fields[19]) else { return nil }
        let hz = Double(sysconf(Int32(_SC_CLK_TCK)))
        var ts = timespec()
        clock_gettime(CLOCK_BOOTTIME, &ts)
        let now = Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
        return now - ticks / hz
    }

    /// CPU seconds used by every thread of the process so far (user + system). On a shared machine the
    /// CPU time of a step moves far less than its wall time.
    static func cpuSeconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    static func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }
    static func seconds(since t0: UInt64) -> Double { Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9 }
}

// MARK: - Load

enum LoadAverage {
    /// The 1, 5 and 15 minute load averages.
    static func read() -> [Double]? {
        guard let text = try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8) else { return nil }
        let v = text.split(separator: " ").prefix(3).compactMap { Double($0) }
        return v.count == 3 ? v : nil
    }
}

// MARK: - Memory cgroup

/// The memory cgroup this process runs in (v1 `memory` hierarchy or v2 unified): its cap and its peak
/// usage. Under v1 the usage includes page cache, so the mapped model's pages count against the cap.
struct MemoryCgroup {
    var version: Int
    var path: String
    var limit: Int?
    var peak: Int?
    var failures: Int?

    static func current() -> MemoryCgroup? {
        guard let text = try? String(contentsOfFile: "/proc/self/cgroup", encoding: .utf8) else { return nil }
        func number(_ file: String) -> Int? {
            guard let s = try? String(contentsOfFile: file, encoding: .utf8) else { return nil }
            let t = s.trimmingCharacters(in: .whitespacesAndNewlines)
            return t == "max" ? nil : Int(t)
        }
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard parts.count == 3 else { continue }
            if parts[1].split(separator: ",").contains("memory") {
                let dir = "/sys/fs/cgroup/memory" + parts[2]
                guard FileManager.default.fileExists(atPath: dir + "/memory.limit_in_bytes") else { continue }
                return MemoryCgroup(
                    version: 1, path: String(parts[2]), limit: number(dir + "/memory.limit_in_bytes"),
                    peak: number(dir + "/memory.max_usage_in_bytes"), failures: number(dir + "/memory.failcnt"))
            }
        }
        for line in text.split(separator: "\n") where line.hasPrefix("0::") {
            let rel = String(line.dropFirst(3))
            let dir = "/sys/fs/cgroup" + rel
            guard FileManager.default.fileExists(atPath: dir + "/memory.max") else { continue }
            return MemoryCgroup(version: 2, path: rel, limit: number(dir + "/memory.max"), peak: number(dir + "/memory.peak"), failures: nil)
        }
        return nil
    }

    /// The cap when it is below the machine's memory (an unlimited group reports a huge number).
    var effectiveLimit: Int? {
        guard let limit else { return nil }
        return Double(limit) < Double(ProcessInfo.processInfo.physicalMemory) ? limit : nil
    }
}

// MARK: - Page cache

enum FileResidency {
    /// Bytes of `path` now in the page cache (mincore over a private read-only mapping), nil when unknown.
    /// A memory-cap run starts with the model evicted, so its pages are charged to the capped cgroup.
    static func residentBytes(_ path: String) -> Int? {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_size > 0 else { return nil }
        let size = Int(st.st_size)
        guard let p = mmap(nil, size, PROT_READ, MAP_SHARED, fd, 0), p != MAP_FAILED else { return nil }
        defer { munmap(p, size) }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        var vec = [UInt8](repeating: 0, count: (size + page - 1) / page)
        guard mincore(p, size, &vec) == 0 else { return nil }
        return vec.reduce(0) { $0 + Int($1 & 1) } * page
    }
}
