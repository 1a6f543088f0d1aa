// The processes of an `mpirun`/`srun` launch as a ProcessGroup, over Open MPI. Only the optional MPI
// build has this module (LEANDPO_MPI=1 swift build); the single-process tool never links MPI.

import CMPI
import Foundation
import Training

public final class MPIGroup: ProcessGroup {
    public let rank: Int
    public let size: Int
    /// Bytes this process sent and seconds it spent in MPI calls, for the communication figures.
    public private(set) var bytesSent = 0
    public private(set) var secondsCommunicating = 0.0

    /// Whether this process was started by an MPI launcher (Open MPI's mpirun, or PMIx under Slurm).
    public static var launched: Bool {
        let env = ProcessInfo.processInfo.environment
        return env["OMPI_COMM_WORLD_SIZE"] != nil || env["PMIX_RANK"] != nil || env["PMI_RANK"] != nil
    }

    /// Initializes MPI; errors come back as return codes (thrown here) instead of aborting.
    public init() throws {
        var provided: Int32 = 0
        try Self.check(MPI_Init_thread(nil, nil, Int32(MPI_THREAD_FUNNELED), &provided), "MPI_Init_thread")
        let world = leandpo_mpi_comm_world()
        try Self.check(MPI_Comm_set_errhandler(world, leandpo_mpi_errors_return()), "MPI_Comm_set_errhandler")
        var r: Int32 = 0
        var s: Int32 = 0
        try Self.check(MPI_Comm_rank(world, &r), "MPI_Comm_rank")
        try Self.check(MPI_Comm_size(world, &s), "MPI_Comm_size")
        rank = Int(r)
        size = Int(s)
    }

    deinit { MPI_Finalize() }

    static func check(_ code: Int32, _ what: String) throws {
        guard code == MPI_SUCCESS else {
            var text = [CChar](repeating: 0, count: Int(MPI_MAX_ERROR_STRING))
            var length: Int32 = 0
            MPI_Error_string(code, &text, &length)
            throw DataParallelError("\(what) failed: \(String(decoding: text.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self))")
        }
    }

    private func timed<R>(_ body: () throws -> R) rethrows -> R {
        let t0 = DispatchTime.now().uptimeNanoseconds
        defer { secondsCommunicating += Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9 }
        return try body()
    }

    // MARK: - ProcessGroup

    /// Large vectors go in pieces under MPI's 32-bit counts.
    private static let piece = 1 << 28

    /// Runs `call(offset, count)` over consecutive pieces of `total` floats (at least one call), each
    /// piece within MPI's 32-bit counts.
    private static func inPieces(_ total: Int, _ what: String, _ call: (Int, Int32) -> Int32) throws {
        var start = 0
        repeat {
            let n = min(piece, total - start)
            try check(call(start, Int32(n)), what)
            start += n
        } while start < total
    }

    public func send(_ values: UnsafeBufferPointer<Float>, to peer: Int) throws {
        try timed {
            try Self.inPieces(values.count, "MPI_Send") { start, n in
                MPI_Send(values.baseAddress! + start, n, leandpo_mpi_float(), Int32(peer), 0, leandpo_mpi_comm_world())
            }
            bytesSent += values.count * 4
        }
    }

    public func receive(_ values: UnsafeMutableBufferPointer<Float>, from peer: Int) throws {
        try timed {
            try Self.inPieces(values.count, "MPI_Recv") { start, n in
                MPI_Recv(values.baseAddress! + start, n, leandpo_mpi_float(), Int32(peer), 0, leandpo_mpi_comm_world(), leandpo_mpi_status_ignore())
            }
        }
    }

    public func broadcast(_ values: UnsafeMutableBufferPointer<Float>, from root: Int) throws {
        try timed {
            try Self.inPieces(values.count, "MPI_Bcast") { start, n in
                MPI_Bcast(values.baseAddress! + start, n, leandpo_mpi_float(), Int32(root), leandpo_mpi_comm_world())
            }
            if rank == root { bytesSent += values.count * 4 }
        }
    }

    public func allGather(_ bytes: [UInt8]) throws -> [[UInt8]] {
        try timed {
            var mine = Int64(bytes.count)
            var lengths = [Int64](repeating: 0, count: size)
            try Self.check(MPI_Allgather(&mine, 1, leandpo_mpi_int64(), &lengths, 1, leandpo_mpi_int64(), leandpo_mpi_comm_world()), "MPI_Allgather")
            guard lengths.reduce(0, +) < Int64(Int32.max) else { throw DataParallelError("an all-gather of more than 2 GiB") }
            let counts = lengths.map { Int32($0) }
            var displacements = [Int32](repeating: 0, count: size)
            for i in 1..<max(1, size) { displacements[i] = displacements[i - 1] + counts[i - 1] }
            var all = [UInt8](repeating: 0, count: Int(lengths.reduce(0, +)))
            var send = bytes
            try Self.check(
                MPI_Allgatherv(
                    &send, Int32(bytes.count), leandpo_mpi_byte(), &all, counts, displacements, leandpo_mpi_byte(), leandpo_mpi_comm_world()),
                "MPI_Allgatherv")
            bytesSent += bytes.count * (size - 1)
            return (0..<size).map { Array(all[Int(displacements[$0])..<Int(displacements[$0] + counts[$0])]) }
        }
    }
}
