// Merging an adapter into the base and writing an MTF file: time, throughput and peak memory.
// STAND-IN: `leandpo export` (ModelExport) had not landed on main when this job was written, so the
// merge below is the bench's own streaming loop over the public API (TensorView, LoRAAdapter, BLAS,
// MTFWriter): each adapted weight is decoded, W += scale·B·A, encoded and written, one tensor at a
// time; every other tensor is copied as stored. Switch it to ModelExport.run once that is on main.

import ArgumentParser
import Foundation
import Kernels
import Model
import TensorFile

struct ExportJob: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "export", abstract: "Merge an adapter into the base and write an MTF file.")

    @OptionGroup var options: JobOptions

    func run() throws {
        let loadStart = LoadAverage.read()
        let residentAtStart = FileResidency.residentBytes(options.model)
        let scratch = try temporaryDirectory("leandpo-bench-export")
        defer { try? FileManager.default.removeItem(atPath: scratch) }

        // An adapter with every entry non-zero (a fresh PEFT init has B = 0, which would merge to the base).
        let base = try MappedTensorFile(path: options.model)
        let adapter = try LoRAAdapter(config: LoRAConfig(r: options.loraR, alpha: options.loraAlpha), modelConfig: base.config, seed: options.seed)
        var rng = Xoshiro256(seed: options.seed)
        for i in adapter.parameters.indices { adapter.parameters[i] = Float.random(in: -0.01..<0.01, using: &rng) }

        let sampler = AnonPeakSampler()
        let output = scratch + "/merged.mtf"
        let t0 = ProcessClock.now()
        let cpu0 = ProcessClock.cpuSeconds()
        let merged = try Self.merge(base: base, adapter: adapter, output: output)
        let seconds = ProcessClock.seconds(since: t0)
        let cpu = ProcessClock.cpuSeconds() - cpu0
        let peakAnon = sampler.stop()
        let peakRSS = ProcStatus.peakResident
        let bytes = (try? FileManager.default.attributesOfItem(atPath: output)[.size] as? Int) ?? 0

        var line = JSONLine()
        line.add("job", .string("export"))
        line.add(options.header(file: ModelFileInfo(base)))
        line.add([
            ("implementation", .string("bench stand-in (leandpo export not on main yet)")),
            ("lora", .string("r\(options.loraR) alpha\(formatNumber(options.loraAlpha)) q,k,v,o,gate,up,down")),
            ("tensors", .int(base.tensors.count)), ("merged_tensors", .int(merged)),
            ("export_s", .number(seconds, digits: 3)), ("export_cpu_s", .number(cpu, digits: 3)),
            ("written_mb", .number(Double(bytes) / 1_048_576, digits: 1)),
            ("write_mb_per_s", .number(Double(bytes) / 1_048_576 / seconds, digits: 1)),
            ("peak_rss_mb", .number(peakRSS.map { Double($0) / 1_048_576 }, digits: 1)),
            ("peak_anon_mb", .number(Double(peakAnon) / 1_048_576, digits: 1)),
            ("model_cached_at_start_mb", .number(residentAtStart.map { Double($0) / 1_048_576 }, digits: 1)),
        ])
        line.add(options.footer(loadStart: loadStart))
        line.print()
    }

    /// Streams `base` into `output` with W += scale·B·A on every adapted weight; returns how many were adapted.
    static func merge(base: MappedTensorFile, adapter: LoRAAdapter, output: String) throws -> Int {
        var entries: [String: LoRAAdapter.Entry] = [:]
        for e in adapter.entries { entries["model.layers.\(e.layer).\(e.target.modulePath).weight"] = e }
        let specs = base.tensors.map { TensorSpec(name: $0.name, dtype: $0.dtype, shape: $0.shape) }
        let writer = try MTFWriter(path: output, metadata: base.metadata, tensors: specs)
        var merged = 0
        let r = adapter.rank
        for info in base.tensors {
            let view = base.view(info)
            guard let e = entries[info.name], !info.dtype.isQuantized else {
                try writer.write(name: info.name, raw: view.bytes)
                continue
            }
            var w = view.toFloats()  // (N, K)
            precondition(w.count == e.outFeatures * e.inFeatures)
            // W (N, K) += scale · B (N, R) · A (R, K)
            w.withUnsafeMutableBufferPointer { wp in
                BLAS.sgemm(
                    transA: false, transB: false, m: e.outFeatures, n: e.inFeatures, k: r, alpha: adapter.scale, a: adapter.b(e), lda: r,
                    b: adapter.a(e), ldb: e.inFeatures, beta: 1, c: wp.baseAddress!, ldc: e.inFeatures)
            }
            try writer.write(name: info.name, floats: w)
            merged += 1
        }
        _ = try writer.finish()
        return merged
    }
}
