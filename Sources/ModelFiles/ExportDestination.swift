// Where an export goes and how it gets there without leaving anything partial: a file is written by
// AtomicFileWriter (temporary sibling, fsync, rename); a directory is built in a temporary sibling
// directory and renamed into place. An existing target is replaced only with `force`, and a directory
// only when it looks like an earlier export of the same kind (never an arbitrary directory).

import Foundation
import TensorFile

#if canImport(Glibc)
    import Glibc
#endif

public enum ExportDestination {
    public enum Kind: Sendable { case file, directory }

    /// Refuses an existing target unless `force`; with `force` a file may replace a file and a directory
    /// an empty directory or one that `replaceable` accepts. Also checks the parent directory exists.
    public static func check(_ path: String, kind: Kind, force: Bool, replaceable: (String) -> Bool = { _ in false }) throws {
        let fm = FileManager.default
        let parent = parentDirectory(path)
        var parentIsDir: ObjCBool = false
        guard fm.fileExists(atPath: parent, isDirectory: &parentIsDir), parentIsDir.boolValue else {
            throw ModelFileError(.io, path, "cannot write here: \(parent) is not an existing directory")
        }
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: path, isDirectory: &isDir) else { return }
        guard force else { throw ModelFileError(.io, path, "already exists (HINT: add --force to replace it)") }
        switch (kind, isDir.boolValue) {
        case (.file, false): return
        case (.file, true): throw ModelFileError(.io, path, "is a directory; this export writes a file (remove it or choose another name)")
        case (.directory, false): throw ModelFileError(.io, path, "is a file; this export writes a directory (remove it or choose another name)")
        case (.directory, true):
            let entries = (try? fm.contentsOfDirectory(atPath: path)) ?? []
            guard entries.isEmpty || replaceable(path) else {
                throw ModelFileError(
                    .io, path, "is a directory that does not look like an earlier export of this kind; refusing to replace it even with --force")
            }
        }
    }

    /// A writer's error as one ModelFileError line naming `path` once.
    static func ioError(_ error: Error, _ path: String) -> ModelFileError {
        switch error {
        case let e as ModelFileError: return e
        case TensorFileError.writer(_, let what), TensorFileError.io(_, let what): return ModelFileError(.io, path, what)
        default: return ModelFileError(.io, path, "\(error)")
        }
    }

    static func parentDirectory(_ path: String) -> String {
        let p = (path as NSString).deletingLastPathComponent
        return p.isEmpty ? "." : p
    }
}

/// A directory export under construction: files go into a temporary sibling directory, `commit()` moves
/// it into place (replacing an earlier export), and anything uncommitted is removed when released.
public final class DirectoryExport {
    public let target: String
    public let temporary: String
    private var committed = false

    /// Creates the temporary directory (exclusively, under an unpredictable name). Call
    /// `ExportDestination.check` first.
    public init(target: String) throws {
        let t = (target as NSString).standardizingPath
        self.target = t
        do {
            temporary = try TemporarySibling.createDirectory(beside: t)
        } catch {
            throw ExportDestination.ioError(error, target)
        }
    }

    deinit {
        if !committed { try? FileManager.default.removeItem(atPath: temporary) }
    }

    /// The path of `name` inside the directory being built.
    public func path(_ name: String) -> String { temporary + "/" + name }

    /// Renames the finished directory into place. An existing target is first renamed aside and removed
    /// only after the new one is in place, so a failure leaves either the old or the new export.
    public func commit() throws {
        syncDirectory(of: temporary + "/.")
        chmod(temporary, TemporarySibling.modeForReplacing(target, defaultMode: 0o755))
        let fm = FileManager.default
        var aside: String?
        if fm.fileExists(atPath: target) {
            let old = TemporarySibling.name(beside: target, tag: "old")
            guard rename(target, old) == 0 else {
                throw ModelFileError(.io, target, "cannot move the existing directory aside: \(String(cString: strerror(errno)))")
            }
            aside = old
        }
        guard rename(temporary, target) == 0 else {
            let reason = String(cString: strerror(errno))
            if let aside { _ = rename(aside, target) }
            throw ModelFileError(.io, target, "cannot rename \(temporary) into place: \(reason)")
        }
        committed = true
        syncDirectory(of: target)
        if let aside { try? fm.removeItem(atPath: aside) }
    }
}
