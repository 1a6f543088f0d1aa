// Where a model's weights came from, as a Hugging Face id or directory, for the MTF provenance's
// `base_model` (which saved adapters name as `base_model_name_or_path`): read from a GGUF's
// `general.source.*` keys or an HF directory's config.json, never guessed from a file name.

import Foundation
import JSON

public enum ModelOrigin {
    /// The repository the GGUF was converted from: `general.source.huggingface.repository` (an id), or a
    /// huggingface.co `general.source.repo_url` / `general.source.url`. `general.base_model.N.*` is not
    /// used: it names the parent a fine-tune was trained from, not the weights in the file.
    static func gguf(_ file: GGUFFile) -> String? {
        if let id = file["general.source.huggingface.repository"]?.string, looksLikeHubID(id) { return id }
        for key in ["general.source.repo_url", "general.source.url"] {
            if let url = file[key]?.string, let id = huggingFaceID(url: url) { return id }
        }
        return nil
    }

    /// An HF directory: config.json's `_name_or_path` when it is a hub id, else the directory's absolute path.
    static func huggingFaceDirectory(_ directory: String, config: JSONValue) -> String {
        if let name = config["_name_or_path"]?.string, looksLikeHubID(name) { return name }
        return URL(fileURLWithPath: directory).standardizedFileURL.path
    }

    /// `org/name` with the characters the hub allows, not a local path.
    public static func looksLikeHubID(_ s: String) -> Bool {
        let parts = s.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, !s.hasPrefix("."), !s.hasPrefix("~"), s.count <= 96 else { return false }
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")
        return parts.allSatisfy { !$0.isEmpty && $0 != "." && $0 != ".." && $0.allSatisfy(allowed.contains) }
    }

    /// The repository id in a huggingface.co URL (`https://huggingface.co/org/name/tree/main` → `org/name`);
    /// nil for any other text, a dataset or a space.
    public static func huggingFaceID(url: String) -> String? {
        var rest = Substring(url)
        for prefix in ["https://", "http://"] where rest.hasPrefix(prefix) { rest = rest.dropFirst(prefix.count) }
        for host in ["huggingface.co/", "www.huggingface.co/", "hf.co/"] where rest.hasPrefix(host) {
            let parts = rest.dropFirst(host.count).split(separator: "/")
            guard parts.count >= 2, !["datasets", "spaces"].contains(parts[0]) else { return nil }
            let id = parts[0] + "/" + parts[1]
            return looksLikeHubID(String(id)) ? String(id) : nil
        }
        return nil
    }
}
