import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

// Two builds of one set of harnesses:
//
// - The fuzz build (`.ci/fuzz`: `-sanitize=fuzzer,address`, compiled with `-DFUZZING`) has
//   libFuzzer's own `main`, which calls `LLVMFuzzerInitialize` once and `LLVMFuzzerTestOneInput`
//   for every input. The harness comes from `HDP_FUZZ_TARGET`; a violated property traps, so
//   libFuzzer reports it like a crash and keeps the input.
// - The ordinary build (`swift build`) has the `@main` below: `replay` runs files (the committed
//   corpus, a crash input) through a harness without sanitizers and reports every violation;
//   `mutate` feeds a harness random mutations of its corpus for a bounded time (no coverage
//   guidance: the quick check CI runs on its one build, that the harnesses hold beyond the seeds).

/// The harness libFuzzer runs. Written once by `LLVMFuzzerInitialize`, before the first input;
/// libFuzzer then calls `LLVMFuzzerTestOneInput` on one thread only.
nonisolated(unsafe) private var selectedTarget: FuzzTarget?

/// Writes `text` to standard error, unbuffered.
private func printError(_ text: String) {
    FileHandle.standardError.write(Data(text.utf8))
}

/// libFuzzer's set-up hook: picks the harness named by `HDP_FUZZ_TARGET`. `HDP_FUZZ_TARGET=list`
/// prints each target's name and largest useful input (for `.ci/fuzz`) and exits.
@_cdecl("LLVMFuzzerInitialize")
func fuzzerInitialize(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>
) -> CInt {
    let name = ProcessInfo.processInfo.environment["HDP_FUZZ_TARGET"]
    if name == "list" {
        for target in FuzzTarget.all { print("\(target.name) \(target.maximumLength)") }
        exit(0)
    }
    guard let name, let target = FuzzTarget.named(name) else {
        let names = FuzzTarget.all.map(\.name).joined(separator: ", ")
        printError("hdp-retry-fuzz: set HDP_FUZZ_TARGET to one of: \(names)\n")
        exit(2)
    }
    selectedTarget = target
    return 0
}

/// libFuzzer's entry point: one input through the selected harness; a violation traps.
@_cdecl("LLVMFuzzerTestOneInput")
func fuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let target = selectedTarget else { fatalError("LLVMFuzzerInitialize did not run") }
    let bytes = UnsafeRawBufferPointer(start: data, count: data == nil ? 0 : size)
    do {
        try target.run(bytes)
    } catch {
        printError("hdp-retry-fuzz: \(target.name): property violated: \(error.message)\n")
        fatalError("\(target.name): \(error.message)")
    }
    return 0
}

#if !FUZZING
/// `hdp-retry-fuzz list | replay TARGET PATH… | replay --all FOLDER`, the unsanitized build.
@main
enum HDPRetryFuzz {
    static let usage = """
        usage: hdp-retry-fuzz list
               hdp-retry-fuzz replay TARGET PATH...     run files (or every file in folders) through a harness
               hdp-retry-fuzz replay --all FOLDER       run FOLDER/TARGET/* through each harness that has a folder
               hdp-retry-fuzz mutate SECONDS FOLDER     mutate FOLDER/TARGET/* at random for SECONDS per harness
                                                        (HDP_FUZZ_SEED=N repeats a run; failures in ./mutate-failures/)

        Fuzzing itself needs the sanitized build: see .ci/fuzz.
        """

    static func main() {
        let arguments = Array(CommandLine.arguments.dropFirst())
        switch arguments.first {
        case "list":
            for target in FuzzTarget.all { print("\(target.name)\t\(target.summary)") }
        case "replay" where arguments.count >= 3 && arguments[1] == "--all":
            exit(replayAll(folder: arguments[2]) ? 0 : 1)
        case "mutate" where arguments.count == 3:
            guard let seconds = Double(arguments[1]), seconds > 0, seconds <= 3600 else {
                printError("hdp-retry-fuzz: mutate: SECONDS must be a number from 0 to 3600\n")
                exit(2)
            }
            let seed = ProcessInfo.processInfo.environment["HDP_FUZZ_SEED"].flatMap { UInt64($0) }
            exit(Mutation.runAll(folder: arguments[2], seconds: seconds, seed: seed) ? 0 : 1)
        case "replay" where arguments.count >= 3:
            guard let target = FuzzTarget.named(arguments[1]) else {
                printError("hdp-retry-fuzz: unknown target \(arguments[1]); see `hdp-retry-fuzz list`\n")
                exit(2)
            }
            exit(replay(target, paths: Array(arguments.dropFirst(2))) ? 0 : 1)
        default:
            printError(usage + "\n")
            exit(2)
        }
    }

    /// Runs every harness over its folder under `folder`; true when every input kept every property.
    static func replayAll(folder: String) -> Bool {
        var passed = true
        var found = false
        for target in FuzzTarget.all {
            let path = (folder as NSString).appendingPathComponent(target.name)
            guard FileManager.default.fileExists(atPath: path) else { continue }
            found = true
            passed = replay(target, paths: [path]) && passed
        }
        if !found { printError("hdp-retry-fuzz: no target folders in \(folder)\n") }
        return passed && found
    }

    /// Runs the files at `paths` (folders: their files, in name order) through `target`, printing
    /// one line per violation and a summary; true when there was none.
    static func replay(_ target: FuzzTarget, paths: [String]) -> Bool {
        var files: [String] = []
        for path in paths {
            var isFolder: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) else {
                printError("hdp-retry-fuzz: \(path): no such file or folder\n")
                return false
            }
            if isFolder.boolValue {
                let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
                files += names.filter { !$0.hasPrefix(".") }.sorted().map {
                    (path as NSString).appendingPathComponent($0)
                }
            } else {
                files.append(path)
            }
        }
        var violations = 0
        for file in files {
            guard let data = FileManager.default.contents(atPath: file) else {
                print("\(file): cannot read")
                violations += 1
                continue
            }
            let result = Array(data).withUnsafeBytes { bytes in
                Result { () throws(PropertyViolation) in try target.run(bytes) }
            }
            if case .failure(let violation) = result {
                print("\(file): \(target.name): \(violation.message)")
                violations += 1
            }
        }
        print("\(target.name): \(files.count) inputs, \(violations) violations")
        return violations == 0
    }
}
#endif
