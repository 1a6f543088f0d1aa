// The leandpo command: the root only dispatches to subcommands.

import ArgumentParser

@main
struct LeanDPO: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "leandpo",
        abstract: "Train LoRA adapters with DPO on a memory-mapped base, on the CPU.",
        version: "0.1.0",
        subcommands: [Convert.self, Inspect.self, Train.self, Eval.self, Generate.self, Export.self, Plot.self, Cache.self])
}
