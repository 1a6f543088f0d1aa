// SIGINT/SIGTERM: the first asks the trainer to stop after the current step and save; a second exits at
// once (every file is written atomically, so nothing is corrupted by leaving abruptly).

#if canImport(Glibc)
    import Glibc
#endif

nonisolated(unsafe) var interruptSignal: Int32 = 0

enum Signals {
    static func install() {
        let handler: @convention(c) (Int32) -> Void = { sig in
            if interruptSignal != 0 { _exit(128 + sig) }
            interruptSignal = sig
            let msg = "\nleandpo: stopping after the current step and saving (press Ctrl-C again to quit at once)\n"
            _ = msg.withCString { write(STDERR_FILENO, $0, strlen($0)) }
        }
        signal(SIGINT, handler)
        signal(SIGTERM, handler)
        // A process started from a thread that blocks signals (a Dispatch worker, as Foundation's Process
        // does) inherits that mask: unblock the two, or they would stay pending and never interrupt.
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGINT)
        sigaddset(&set, SIGTERM)
        pthread_sigmask(SIG_UNBLOCK, &set, nil)
    }

    static var interrupted: Bool { interruptSignal != 0 }
    static var exitCode: Int32 { 128 + interruptSignal }
}
