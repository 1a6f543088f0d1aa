// Which processes this run is: one, or the ranks of an `mpirun`/`srun` launch when this leandpo was
// built with MPI (LEANDPO_MPI=1). A plain build started by mpirun says how to get the MPI build.

import Foundation
import Training

#if LEANDPO_MPI
    import DataParallel
#endif

enum Launch {
    /// The process group of an MPI launch of more than one process, else nil.
    static func group() throws -> ProcessGroup? {
        #if LEANDPO_MPI
            guard MPIGroup.launched else { return nil }
            let group = try MPIGroup()
            return group.size > 1 ? group : nil
        #else
            let size = ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_SIZE"].flatMap { Int($0) } ?? 1
            guard size <= 1 else {
                throw ArgumentError(
                    "started by mpirun with \(size) processes, but this leandpo was built without MPI; build it with "
                        + "LEANDPO_MPI=1 swift build -c release --scratch-path .build-mpi (needs libopenmpi-dev)")
            }
            return nil
        #endif
    }

    /// Bytes sent and seconds spent communicating by this process, when the group measures them.
    static func communication(_ group: ProcessGroup?) -> (bytes: Int, seconds: Double)? {
        #if LEANDPO_MPI
            if let g = group as? MPIGroup { return (g.bytesSent, g.secondsCommunicating) }
        #endif
        return nil
    }
}
