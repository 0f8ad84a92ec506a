using System.CommandLine;
using RdmaDiag.Wire;

namespace RdmaDiag.Cli.Commands;

/// <summary>`rdmadiag selftest`: the main job on loopback. Each stage prints one line per check.</summary>
public sealed class SelftestCommand : Command
{
    public SelftestCommand() : base("selftest", "Run RdmaDiag's own checks end to end on this host (loopback): wire codecs against the RFC vectors, and more as they land.")
    {
        SetAction(parse => Run(parse.InvocationConfiguration.Output));
    }

    private static int Run(TextWriter output)
    {
        var failed = 0;
        output.WriteLine("wire codecs against the RFC 5044/7143 vectors and iwarp-wire.md §8:");
        foreach (var check in WireSelfCheck.Run())
        {
            output.WriteLine($"  {(check.Passed ? "ok  " : "FAIL")} {check.Name}{(check.Passed ? "" : ": " + check.Detail)}");
            failed += check.Passed ? 0 : 1;
        }
        output.WriteLine(failed == 0 ? "selftest: ok" : $"selftest: {failed} check(s) failed");
        return failed == 0 ? ExitCodes.Ok : ExitCodes.Failed;
    }
}
