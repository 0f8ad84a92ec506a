using System.Text.Json;
using RdmaDiag.Capture;
using RdmaDiag.Capture.Iwarp;
using RdmaDiag.Capture.Iwarp.Report;
using RdmaDiag.Diagnostics.Findings;

namespace RdmaDiag.Tests.Decode;

/// <summary>Shared helpers: where captures/ is, temporary capture files, and one-call decodes.</summary>
internal static class DecodeTestKit
{
    /// <summary>The repository's captures/ directory (found upwards from the test binaries).</summary>
    public static string CapturesDirectory { get; } = FindCaptures();

    private static string FindCaptures()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "captures");
            if (File.Exists(Path.Combine(candidate, "README.md")) && File.Exists(Path.Combine(dir.FullName, "RdmaDiag.sln")))
            {
                return candidate;
            }
        }
        throw new InvalidOperationException($"no captures/ directory above {AppContext.BaseDirectory}");
    }

    /// <summary>A fresh path in a per-test temporary directory, removed when the returned scope is disposed.</summary>
    public sealed class TempDirectory : IDisposable
    {
        public TempDirectory()
        {
            Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"rdmadiag-test-{Guid.NewGuid():N}");
            Directory.CreateDirectory(Path);
        }

        public string Path { get; }

        public string File(string name) => System.IO.Path.Combine(Path, name);

        public void Dispose()
        {
            try
            {
                Directory.Delete(Path, recursive: true);
            }
            catch (IOException)
            {
                // A leftover temporary directory does not affect the result.
            }
        }
    }

    /// <summary>What one decode produced: summary, findings, and the frames as parsed JSON objects.</summary>
    public sealed record Decoded(DecodeSummary Summary, IReadOnlyList<Finding> Findings, IReadOnlyList<JsonElement> Frames)
    {
        public IEnumerable<string> Rules => Findings.Select(f => f.RuleId);

        public IEnumerable<JsonElement> FramesOf(int flow) => Frames.Where(f => f.GetProperty("flow").GetInt32() == flow);
    }

    public static Decoded Decode(string path, TcpTrackerOptions? options = null)
    {
        var findings = new FindingList();
        using var spool = new MemoryStream();
        DecodeSummary summary;
        using (var sink = new FpduJsonSink(spool))
        {
            summary = new IwarpCaptureDecoder(findings, sink, options).DecodeFile(path);
            sink.Complete();
        }
        using var doc = JsonDocument.Parse(spool.ToArray());
        var frames = doc.RootElement.EnumerateArray().Select(e => e.Clone()).ToList();
        return new Decoded(summary, findings.Items, frames);
    }

    public static long Long(this JsonElement frame, string key) => frame.GetProperty(key).GetInt64();

    public static bool Has(this JsonElement frame, string key) => frame.TryGetProperty(key, out _);
}
