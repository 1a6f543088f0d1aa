// What `base_model_name_or_path` says in a saved adapter: the Hugging Face id or directory the base was
// converted from, as `convert` recorded it in the MTF provenance, or a placeholder that says so.

import TensorFile

public enum BaseModelName {
    /// Written when the base's origin is unknown (a GGUF without a source repository, an old MTF file);
    /// README.md's "Adapters" paragraph says how to set it.
    public static let placeholder = "unknown-base-model (set base_model_name_or_path to the base's Hugging Face id or directory)"

    /// The provenance's recorded origin, else the placeholder. Never a GGUF or MTF file name.
    public static func of(_ metadata: MTFMetadata) -> String {
        guard let name = metadata.provenance.baseModel, !name.isEmpty else { return placeholder }
        return name
    }
}
