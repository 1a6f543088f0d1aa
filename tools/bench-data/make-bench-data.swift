// Writes tools/bench-data/pairs.jsonl: the benchmark's 64 preference pairs with realistic lengths
// (prompts of about 50–400 tokens, completions of about 20–250) built from a pool of plain sentences.
// Deterministic; run `swift tools/bench-data/make-bench-data.swift` from the repository root to regenerate.
import Foundation

/// SplitMix64, the package's SeededRandom generator written out again on purpose: this file runs as a
/// standalone script (`swift FILE`), which cannot import the package's modules.
struct Rng {
    var s: UInt64
    mutating func next() -> UInt64 {
        s &+= 0x9E37_79B9_7F4A_7C15
        var z = s
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func uniform() -> Double { Double(next() >> 11) / Double(1 << 53) }
    mutating func pick<T>(_ a: [T]) -> T { a[Int(next() % UInt64(a.count))] }
    /// Log-uniform integer in [lo, hi]: many short texts, some long ones, as real data has.
    mutating func logUniform(_ lo: Double, _ hi: Double) -> Int { Int(exp(log(lo) + uniform() * (log(hi) - log(lo)))) }
}

let sentences = [
    "The river rose steadily through the night, and by morning the lower fields were under water.",
    "Engineers reviewed the bridge design twice before approving the final drawings.",
    "Most of the volunteers arrived early to set up tables and chairs in the community hall.",
    "A small change in temperature can have a large effect on how quickly dough rises.",
    "The committee agreed to publish the results once the second round of measurements was complete.",
    "She kept a notebook of every bird she saw on her morning walks along the coast.",
    "Batteries lose capacity faster when they are stored fully charged in a warm room.",
    "The library extended its opening hours during the exam period at the request of students.",
    "Farmers in the valley rotate their crops to keep the soil healthy from year to year.",
    "The new timetable reduced waiting times at the busiest stations by almost a third.",
    "He explained the rules of the game slowly, drawing small diagrams on the back of a napkin.",
    "Clear instructions save more time than any clever shortcut a team might invent later.",
    "The museum's oldest map shows the harbour long before the modern docks were built.",
    "Regular maintenance of the pumps prevented the failures that had troubled the plant last winter.",
    "A good summary states the main point first and leaves the details for later paragraphs.",
    "The survey found that most residents wanted more trees planted along the main road.",
    "When the power failed, the hospital switched to its backup generators within seconds.",
    "The recipe calls for two cups of flour, a pinch of salt and enough water to make a soft dough.",
    "Researchers compared three methods and found the simplest one was also the most reliable.",
    "The hikers turned back at the ridge because clouds were gathering over the summit.",
    "Children learn new words fastest when they hear them used in many different situations.",
    "The software update fixed a bug that caused the application to freeze on older computers.",
    "Traffic on the coastal road is heaviest on Friday evenings and Sunday afternoons.",
    "The orchestra rehearsed the final movement until every entrance was perfectly together.",
    "Saving a little every month adds up to a surprising amount over several years.",
    "The report recommends replacing the old windows to reduce heating costs in winter.",
    "Local bakers start work long before sunrise so that fresh bread is ready for breakfast.",
    "The team documented each experiment carefully so that others could repeat the results.",
    "A strong wind from the north kept the fishing boats in the harbour for three days.",
    "The city council voted to convert the empty warehouse into a public market.",
    "Good sleep, regular exercise and a balanced diet are the basis of long-term health.",
    "The translator checked every technical term against the glossary before delivering the text.",
]

let questions = [
    "Summarize the notes above in a few sentences.", "What is the main point of these notes?",
    "Which detail above matters most for planning, and why?", "Explain the notes to a new team member.",
    "List the key facts from the notes.", "What should be done next, based on the notes?",
]

func paragraph(tokens: Int, _ rng: inout Rng) -> String {
    // About 19 words and 24 tokens per sentence in this pool.
    let count = max(2, Int((Double(tokens) / 24).rounded()))
    return (0..<count).map { _ in rng.pick(sentences) }.joined(separator: " ")
}

var rng = Rng(s: 64)
var lines: [String] = []
for _ in 0..<64 {
    let prompt =
        "Read the following notes and answer the question.\n\n" + paragraph(tokens: rng.logUniform(55, 470), &rng)
        + "\n\nQuestion: " + rng.pick(questions)
    let chosenLength = rng.logUniform(26, 290)
    let chosen = paragraph(tokens: chosenLength, &rng)
    let rejected = paragraph(tokens: rng.logUniform(26, 290), &rng)
    let obj = ["prompt": prompt, "chosen": chosen, "rejected": rejected]
    let data = try! JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys, .withoutEscapingSlashes])
    lines.append(String(decoding: data, as: UTF8.self))
}
try! (lines.joined(separator: "\n") + "\n").write(toFile: "tools/bench-data/pairs.jsonl", atomically: true, encoding: .utf8)
print("wrote 64 pairs")
