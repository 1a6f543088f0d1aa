// Merging an adapter into the base and writing an MTF file with `ModelExport.run` (what `leandpo export
// --to x.mtf` runs): time, throughput and peak memory. The adapter is a fresh one with every entry random
// (a PEFT init has B = 0, which would merge to the base), saved as a PEFT directory first.

import Adapters
import ArgumentParser
import Foundation
import Model
import SeededRandom
import TensorFile

struct ExportJob: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "export", abstract: "Merge an adapter into the base and write an MTF file.")

    @OptionGroup var options: JobOptions

    func run() throws {
        let loadStart = LoadAverage.read()
        let residentAtStart = FileResidency.residentBytes(options.model)
        let scratch = try temporaryDirectory("leandpo-bench-export")
        defer { try? FileManager.default.removeItem(atPath: scratch) }

        let base = try MappedTensorFile(path: options.model)
        let adapter = try LoRAAdapter(config: LoRAConfig(r: options.loraR, alpha: options.loraAlpha), modelConfig: base.config, seed: options.seed)
        var rng = Xoshiro256(seed: options.seed)
        for i in adapter.parameters.indices { adapter.parameters[i] = Float.random(in: -0.01..<0.01, using: &rng) }
        try PEFTAdapter.save(adapter, directory: scratch + "/adapter", baseModel: BaseModelName.of(base.metadata))

        let sampler = AnonPeakSampler()
        let t0 = ProcessClock.now()
        let cpu0 = ProcessClock.cpuSeconds()
        let result = try ModelExport.run(
            ExportRequest(model: options.model, adapter: scratch + "/adapter", output: scratch + "/merged.mtf", format: .mtf))
        let seconds = ProcessClock.seconds(since: t0)
        let cpu = ProcessClock.cpuSeconds() - cpu0
        let peakAnon = sampler.stop()
        let peakRSS = ProcStatus.peakResident

        var line = JSONLine()
        line.add("job", .string("export"))
        line.add(options.header(file: ModelFileInfo(base)))
        line.add([
            ("format", .string(result.format.rawValue)), ("dtype", .string(result.dtype.rawValue)),
            ("lora", .string("r\(options.loraR) alpha\(formatNumber(options.loraAlpha)) q,k,v,o,gate,up,down")),
            ("tensors", .int(result.tensors)), ("merged_tensors", .int(result.merged)),
            ("export_s", .number(seconds, digits: 3)), ("export_cpu_s", .number(cpu, digits: 3)),
            ("written_mb", .number(Double(result.bytes) / 1_048_576, digits: 1)),
            ("write_mb_per_s", .number(Double(result.bytes) / 1_048_576 / seconds, digits: 1)),
            ("peak_rss_mb", .number(peakRSS.map { Double($0) / 1_048_576 }, digits: 1)),
            ("peak_anon_mb", .number(Double(peakAnon) / 1_048_576, digits: 1)),
            ("model_cached_at_start_mb", .number(residentAtStart.map { Double($0) / 1_048_576 }, digits: 1)),
        ])
        line.add(options.footer(loadStart: loadStart))
        line.print()
    }
}
