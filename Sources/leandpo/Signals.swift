// SIGINT/SIGTERM for every command that writes: the first signal only raises a flag that the running
// work checks at its next safe point (train: after the current step, saving; convert and export: before
// the next tensor, dropping the temporary output); a second exits at once (every file is written
// atomically, so leaving abruptly corrupts nothing).

#if canImport(Glibc)
    import Glibc
#endif

nonisolated(unsafe) var interruptSignal: Int32 = 0
nonisolated(unsafe) var interruptMessage: UnsafeMutablePointer<CChar>?

enum Signals {
    static let trainingMessage = "stopping after the current step and saving (press Ctrl-C again to quit at once)"

    /// Installs the handlers; `message` (if any) is printed on stderr at the first signal.
    static func install(message: String? = trainingMessage) {
        interruptMessage = message.map { strdup("\nleandpo: " + $0 + "\n") }
        let handler: @convention(c) (Int32) -> Void = { sig in
            if interruptSignal != 0 { _exit(128 + sig) }
            interruptSignal = sig
            if let msg = interruptMessage { _ = write(STDERR_FILENO, msg, strlen(msg)) }
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
