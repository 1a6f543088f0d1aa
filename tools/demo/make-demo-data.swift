// Writes the demo preference data (tools/demo/train.jsonl, tools/demo/heldout.jsonl): conversational
// pairs with a clear, learnable preference — helpful, correct, polite answers over dismissive or wrong
// ones. Deterministic; run `swift tools/demo/make-demo-data.swift` from the repository root to regenerate.
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
    mutating func int(_ n: Int) -> Int { Int(next() % UInt64(n)) }
    mutating func pick<T>(_ a: [T]) -> T { a[int(a.count)] }
}

var rng = Rng(s: 2026)

// MARK: - Helpful answers versus dismissive ones

let tasks: [(String, String)] = [
    ("boil an egg", "Place the egg in boiling water for about nine minutes, then cool it in cold water before peeling."),
    ("make a cup of tea", "Boil fresh water, pour it over a tea bag, let it steep for three to five minutes, then remove the bag."),
    ("tie a shoelace", "Cross the laces, tuck one under to make a knot, form a loop with one lace, wrap the other around it and pull it through."),
    ("water a cactus", "Water it thoroughly only when the soil is completely dry, usually every two to four weeks."),
    ("remember a new word", "Use it in a sentence today, write it down, and review it again tomorrow and next week."),
    ("fall asleep faster", "Keep a regular bedtime, avoid screens for an hour before bed, and keep your room cool and dark."),
    ("save money on groceries", "Plan meals for the week, shop with a list, and compare unit prices on the shelf labels."),
    ("start running", "Begin with short run-walk intervals three times a week and increase the running time gradually."),
    ("clean a keyboard", "Unplug it, turn it upside down to shake out crumbs, then wipe the keys with a slightly damp cloth."),
    ("write a thank-you note", "Greet the person, name what you are thankful for, say how it helped you, and sign off warmly."),
    ("fix a squeaky door", "Lift the hinge pins a little and apply a few drops of oil, then swing the door to spread it."),
    ("learn to juggle", "Start with one ball tossed between your hands in an arc, then add a second, and only later a third."),
    ("keep basil alive", "Give it plenty of sunlight, water it when the top of the soil is dry, and pinch off flower buds."),
    ("prepare for a job interview", "Research the company, practise answers to common questions aloud, and prepare two questions to ask."),
    ("make a paper airplane", "Fold a sheet in half lengthwise, fold the top corners to the center, fold the wings down, and throw it gently."),
    ("calm down before a speech", "Breathe slowly for a minute, remind yourself of your first sentence, and focus on one friendly face."),
    ("study for an exam", "Spread your study over several days, test yourself instead of rereading, and sleep well the night before."),
    ("cook rice", "Rinse one cup of rice, add two cups of water, bring to a boil, then cover and simmer for about eighteen minutes."),
    ("change a light bulb", "Switch off the power, let the old bulb cool, unscrew it, and screw in a new bulb of the same type."),
    ("organize my desk", "Clear everything off, keep only what you use daily within reach, and give every item a fixed place."),
    ("stay focused while working", "Work in twenty-five minute blocks, silence notifications, and take a short break between blocks."),
    ("make friends in a new city", "Join a club or class that meets regularly, say yes to invitations, and follow up with people you like."),
    ("back up my photos", "Copy them to an external drive and to a cloud service, so you always have two separate copies."),
    ("reduce food waste", "Store leftovers in clear containers, use the oldest food first, and freeze bread and fruit before they spoil."),
    ("wash a wool sweater", "Hand wash it in cool water with a gentle detergent, press out the water, and dry it flat."),
    ("plant a tree", "Dig a hole twice as wide as the root ball, set the tree at the same depth it grew, backfill, and water deeply."),
    ("improve my handwriting", "Write slowly, hold the pen loosely, and copy a few lines of neat letters every day."),
    ("choose a good watermelon", "Pick one that feels heavy for its size, has a creamy yellow spot, and sounds hollow when tapped."),
    ("read more books", "Carry a book with you, read ten pages before bed, and stop books you do not enjoy."),
    ("set up a budget", "List your monthly income, write down fixed costs, set limits for other spending, and track it weekly."),
    ("get rid of hiccups", "Hold your breath for a few seconds, sip cold water slowly, or breathe into cupped hands."),
    ("sharpen a kitchen knife", "Hold the blade at a steady low angle on a whetstone and draw it across evenly on both sides."),
    ("learn a new language", "Practise a little every day, learn the most common words first, and speak with others as early as possible."),
    ("apologize to a friend", "Say clearly what you did, admit it hurt them, apologize without excuses, and ask how to make it right."),
    ("make pancakes", "Whisk flour, milk, an egg and a pinch of salt, then cook ladlefuls in a hot buttered pan until bubbles form and flip."),
    ("keep my phone battery healthy", "Avoid extreme heat, keep the charge roughly between twenty and eighty percent, and use a good charger."),
    ("stop procrastinating", "Break the task into a tiny first step, set a timer for ten minutes, and start before you feel ready."),
    ("remove a coffee stain", "Blot it quickly, rinse from the back with cold water, and treat it with a little liquid detergent."),
    ("take better photos", "Use natural light, keep the horizon straight, and move closer to your subject."),
    ("care for a goldfish", "Use a large filtered tank, change part of the water weekly, and feed small amounts once or twice a day."),
    ("write a short poem", "Pick one image or feeling, write a few lines about it in simple words, then read it aloud and trim."),
    ("prepare for a hike", "Check the weather, bring water, snacks and a map, wear sturdy shoes, and tell someone your route."),
    ("memorize a speech", "Learn it one paragraph at a time, say it out loud often, and rehearse in front of a friend."),
    ("make a smoothie", "Blend a banana, a handful of frozen berries, some yogurt and a splash of milk until smooth."),
    ("unclog a sink", "Pour hot water down the drain, use a plunger, and if needed clean the trap under the sink."),
    ("be more patient", "Notice when you feel rushed, take one slow breath, and remind yourself most things can wait a moment."),
    ("pack a suitcase", "Roll your clothes, put heavy items near the wheels, and keep essentials in your carry-on."),
    ("write a good email subject", "Keep it short and specific, and say what you need, for example a question or a date."),
    ("teach a dog to sit", "Hold a treat above its nose, move it back until the dog sits, then say sit and reward it right away."),
    ("defrost a freezer", "Unplug it, empty it, place towels and bowls of hot water inside, and wipe it dry when the ice has melted."),
    ("grow tomatoes", "Plant them in full sun, water deeply at the base, and tie the stems to stakes as they grow."),
    ("make a good first impression", "Smile, make eye contact, use the other person's name, and listen more than you talk."),
    ("clean a cast iron pan", "Rinse it with hot water, scrub with a brush, dry it on the stove, and rub in a thin layer of oil."),
    ("learn to type faster", "Keep your fingers on the home row, do short daily drills, and focus on accuracy before speed."),
    ("choose a password", "Use a long passphrase of several random words, and never reuse it on another site."),
    ("get better at chess", "Play regularly, review your losses, and solve a few tactics puzzles every day."),
    ("ride a bicycle", "Start on a gentle slope with the seat low enough to touch the ground, push off, and look ahead, not down."),
    ("draw a face", "Sketch an oval, draw a line halfway down for the eyes, then place the nose and mouth below it."),
    ("make my room cooler", "Close the curtains during the day, open windows at night, and use a fan to move the air."),
    ("be a good listener", "Give your full attention, do not interrupt, and repeat back what you heard in your own words."),
]

let dismissals = [
    "That's not my problem. Look it up yourself.",
    "Why would I know? Figure it out on your own.",
    "Ugh, I don't have time for questions like this.",
    "Just search the internet, it's not that hard.",
    "No idea, and honestly I don't care.",
    "Stop asking me basic things.",
    "Whatever. Do what you want.",
    "That's a boring question. Next.",
]

let askForms = ["How do I %@?", "Can you tell me how to %@?", "What's the best way to %@?", "I want to %@. Any tips?"]

// MARK: - Correct answers versus wrong ones

let capitals: [(String, String)] = [
    ("France", "Paris"), ("Germany", "Berlin"), ("Italy", "Rome"), ("Spain", "Madrid"), ("Portugal", "Lisbon"),
    ("Japan", "Tokyo"), ("China", "Beijing"), ("India", "New Delhi"), ("Canada", "Ottawa"), ("Australia", "Canberra"),
    ("Brazil", "Brasília"), ("Argentina", "Buenos Aires"), ("Egypt", "Cairo"), ("Kenya", "Nairobi"), ("Norway", "Oslo"),
    ("Sweden", "Stockholm"), ("Finland", "Helsinki"), ("Denmark", "Copenhagen"), ("Poland", "Warsaw"), ("Greece", "Athens"),
    ("Turkey", "Ankara"), ("Russia", "Moscow"), ("Mexico", "Mexico City"), ("Peru", "Lima"), ("Chile", "Santiago"),
    ("Ireland", "Dublin"), ("Austria", "Vienna"), ("Hungary", "Budapest"), ("Thailand", "Bangkok"), ("Vietnam", "Hanoi"),
    ("South Korea", "Seoul"), ("Indonesia", "Jakarta"), ("Nigeria", "Abuja"), ("Morocco", "Rabat"), ("Cuba", "Havana"),
    ("Belgium", "Brussels"), ("Netherlands", "Amsterdam"), ("Switzerland", "Bern"), ("Czechia", "Prague"), ("Colombia", "Bogotá"),
]

let opposites: [(String, String)] = [
    ("hot", "cold"), ("big", "small"), ("fast", "slow"), ("happy", "sad"), ("light", "dark"), ("open", "closed"),
    ("early", "late"), ("full", "empty"), ("high", "low"), ("strong", "weak"), ("young", "old"), ("rich", "poor"),
    ("hard", "soft"), ("wet", "dry"), ("loud", "quiet"), ("near", "far"), ("thick", "thin"), ("clean", "dirty"),
    ("heavy", "light"), ("long", "short"), ("true", "false"), ("up", "down"), ("inside", "outside"), ("begin", "end"),
]

// MARK: - Assembly

func pair(_ user: String, _ good: String, _ bad: String) -> String {
    let obj: [String: Any] = [
        "prompt": [["role": "user", "content": user]],
        "chosen": [["role": "assistant", "content": good]],
        "rejected": [["role": "assistant", "content": bad]],
    ]
    let data = try! JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys, .withoutEscapingSlashes])
    return String(decoding: data, as: UTF8.self)
}

var train: [String] = []
var heldout: [String] = []

// Every 5th task, capital, opposite and sum goes to the held-out split, so it tests generalisation.
for (i, (task, answer)) in tasks.enumerated() {
    let forms = i % 5 == 4 ? [rng.pick(askForms)] : [rng.pick(askForms), rng.pick(askForms), rng.pick(askForms)]
    for form in forms {
        let p = pair(String(format: form, task), answer, rng.pick(dismissals))
        if i % 5 == 4 { heldout.append(p) } else { train.append(p) }
    }
}
for (i, (country, capital)) in capitals.enumerated() {
    var wrong = rng.pick(capitals).1
    while wrong == capital { wrong = rng.pick(capitals).1 }
    let p = pair("What is the capital of \(country)?", "The capital of \(country) is \(capital).", "The capital of \(country) is \(wrong).")
    if i % 5 == 4 { heldout.append(p) } else { train.append(p) }
}
for (i, (word, opposite)) in opposites.enumerated() {
    var wrong = rng.pick(opposites).0
    while wrong == opposite || wrong == word { wrong = rng.pick(opposites).0 }
    let p = pair(
        "What is the opposite of \"\(word)\"?", "The opposite of \"\(word)\" is \"\(opposite)\".", "The opposite of \"\(word)\" is \"\(wrong)\".")
    if i % 5 == 4 { heldout.append(p) } else { train.append(p) }
}
for i in 0..<60 {
    let a = 2 + rng.int(40), b = 2 + rng.int(40)
    let off = [1, 2, 10, -1, -2, -10][rng.int(6)]
    let p = pair("What is \(a) plus \(b)?", "\(a) plus \(b) equals \(a + b).", "\(a) plus \(b) equals \(a + b + off).")
    if i % 5 == 4 { heldout.append(p) } else { train.append(p) }
}

// Shuffle the training split deterministically so categories are mixed in file order.
for i in stride(from: train.count - 1, to: 0, by: -1) { train.swapAt(i, rng.int(i + 1)) }

let dir = "tools/demo/"
try! (train.joined(separator: "\n") + "\n").write(toFile: dir + "train.jsonl", atomically: true, encoding: .utf8)
try! (heldout.joined(separator: "\n") + "\n").write(toFile: dir + "heldout.jsonl", atomically: true, encoding: .utf8)
print("train \(train.count) pairs, heldout \(heldout.count) pairs")
