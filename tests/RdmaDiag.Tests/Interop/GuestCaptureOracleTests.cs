using RdmaDiag.Tests.Decode;
using Xunit.Abstractions;

// Not RdmaDiag.Tests.Interop: that name would hide the Core's Interop class from the other tests.
namespace RdmaDiag.Tests.SiwInterop;

/// <summary>
/// Runs only when <c>RDMADIAG_VM_RESULTS</c> names a directory of tests/vm results (run-tier.sh's --out, which
/// sets it when it runs this test after its scenarios) and tshark is installed.
/// </summary>
public sealed class GuestResultsFactAttribute : FactAttribute
{
    public const string Variable = "RDMADIAG_VM_RESULTS";

    public GuestResultsFactAttribute()
    {
        string? dir = Environment.GetEnvironmentVariable(Variable);
        if (string.IsNullOrEmpty(dir) || !Directory.Exists(dir))
        {
            Skip = $"needs captures from the kernel-siw guest: run tests/vm/run-tier.sh (as root), which runs this test with {Variable} set to its --out";
        }
        else if (!Environment.GetEnvironmentVariable("PATH")!.Split(':').Any(d => File.Exists(Path.Combine(d, "tshark"))))
        {
            Skip = "needs 'tshark' on PATH: apt-get install tshark";
        }
    }
}

/// <summary>
/// Scenario 7 of the siw interop issue: every capture taken in the qemu guest (siw against siw, siw against
/// RdmaDiag's endpoint) decoded by RdmaDiag and by tshark, compared field by field with the decode oracle's
/// mapping (<see cref="TsharkOracleTests"/>). The differences allowed are tshark's known errors that show on
/// siw's traffic, each recognised by its shape.
/// </summary>
public class GuestCaptureOracleTests(ITestOutputHelper output)
{
    /// <summary>The control-word fields tshark reads in the RFC's bit order from siw's little-endian bitfields.</summary>
    private static readonly HashSet<string> SiwTerminateFields =
    [
        "iwarp_rdma.term_layer", "iwarp_rdma.term_etype", "iwarp_rdma.term_errcode", "iwarp_rdma.term_hdrct_m", "iwarp_rdma.hdrct_d",
        "iwarp_rdma.hdrct_r", "iwarp_rdma.term_ddp_seg_len", "iwarp_rdma.term_ddp_h", "iwarp_rdma.term_rdma_h",
    ];

    [GuestResultsFact]
    public void EveryGuestCapture_EveryFieldTsharkDecodes_MatchesRdmaDiagOrIsAKnownSiwDifference()
    {
        string root = Environment.GetEnvironmentVariable(GuestResultsFactAttribute.Variable)!;
        string[] captures = Directory.GetFiles(root, "*.pcap", SearchOption.AllDirectories).Order(StringComparer.Ordinal).ToArray();
        Assert.NotEmpty(captures);
        var problems = new List<string>();
        int compared = 0, startFrames = 0;
        foreach (string capture in captures)
        {
            var siwTerminates = DecodeTestKit.Decode(capture).Frames
                .Where(f => f.Has("rdmadiag.term_siw_bitfield_layout"))
                .Select(f => f.Long("rdmadiag.last_frame"))
                .ToHashSet();
            TsharkOracleTests.Comparison c = TsharkOracleTests.Compare(capture);
            compared += c.Compared;
            startFrames += c.StartFrames;
            string name = Path.GetRelativePath(root, capture);
            var explained = c.Differences.Where(d => d.Why is not null || (siwTerminates.Contains(d.Frame) && SiwTerminateFields.Contains(d.Field))).ToList();
            foreach (var d in c.Differences.Except(explained))
            {
                problems.Add($"{name} frame {d.Frame} {d.Field}: tshark {d.Tshark}, rdmadiag {d.Ours}");
            }
            problems.AddRange(c.TsharkOnly.Select(t => $"{name} frame {t.Frame}: tshark shows an FPDU rdmadiag does not"));
            problems.AddRange(c.OursOnly.Select(f => $"{name} frame {f.Long("frame")}: rdmadiag shows an FPDU tshark does not"));
            output.WriteLine($"{name}: {c.Compared} FPDUs and {c.StartFrames} MPA frames compared; {explained.Count} known differences"
                + string.Concat(explained.Select(d => d.Field).Distinct().Select(f => $" [{f}]")));
        }
        output.WriteLine($"{captures.Length} captures, {compared} FPDUs, {startFrames} MPA frames");
        Assert.True(problems.Count == 0, string.Join("\n", problems));
    }
}
