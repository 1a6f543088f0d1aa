// `leandpo cache`: where the reference log-prob cache lives, what it holds, and `--clear` to empty it.

import ArgumentParser
import Foundation
import Training

struct Cache: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show or clear the reference log-prob cache.",
        discussion: """
            train keeps each dataset's reference log-probs (base model, adapters off) here so a later run on the \
            same base and data skips the reference pass: $LEANDPO_CACHE/reference, else \
            $XDG_CACHE_HOME/leandpo/reference, else ~/.cache/leandpo/reference. It holds at most 256 MiB \
            (least recently used entries go first). Clearing it only costs time.
            """)

    @Flag(help: "Remove every cached entry (and the record of verified base files).") var clear = false

    func run() throws {
        try reportingErrors {
            let directory = ReferenceCache.directory
            if clear {
                let removed = try ReferenceCache.clear()
                print("cleared \(directory): \(removed.entries) entries, \(formatBytes(removed.bytes))")
            } else {
                let l = ReferenceCache.list()
                print(
                    "\(directory): \(l.entries) entries, \(formatBytes(l.bytes)) of \(formatBytes(ReferenceCache.sizeLimit)), \(l.verifiedBases) verified base files"
                )
            }
        }
    }
}
