// llama.cpp's Q/K row permutation for the `llama` GGUF architecture (llama.cpp's convert_hf_to_gguf.py,
// `LlamaModel.permute`): the converter interleaves each head's two rotary halves so GGML's adjacent-pair
// RoPE matches HF's rotate_half.
// Importing undoes it: HF row h*hd + i comes from GGUF row h*hd + (i < hd/2 ? 2i : 2(i - hd/2) + 1).

public enum LlamaQKPermutation {
    /// The GGUF row holding HF row `row` of a Q (heads = n_head) or K (heads = n_head_kv) projection
    /// with `headDim` rows per head.
    @inline(__always) public static func ggufRow(forHFRow row: Int, headDim: Int) -> Int {
        let h = row / headDim, i = row % headDim, half = headDim / 2
        return h * headDim + (i < half ? 2 * i : 2 * (i - half) + 1)
    }

    /// The inverse: the HF row that GGUF row `row` holds (what llama.cpp's `permute` does).
    @inline(__always) public static func hfRow(forGGUFRow row: Int, headDim: Int) -> Int {
        let h = row / headDim, g = row % headDim
        return h * headDim + (g % 2) * (headDim / 2) + g / 2
    }
}
