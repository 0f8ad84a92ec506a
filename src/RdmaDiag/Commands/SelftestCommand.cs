using System.CommandLine;

namespace RdmaDiag.Cli.Commands;

/// <summary>`rdmadiag selftest`: the main job on loopback. Grows with each subsystem.</summary>
public sealed class SelftestCommand : Command
{
    public SelftestCommand() : base("selftest", "Run RdmaDiag's own checks end to end on this host (loopback).")
    {
        SetAction(parse =>
        {
            var output = parse.InvocationConfiguration.Output;
            output.WriteLine("selftest: nothing to check yet");
            return ExitCodes.Ok;
        });
    }
}
