using System.CommandLine;
using RdmaDiag.Cli.Commands;

namespace RdmaDiag.Cli;

/// <summary>Builds the command tree. One <see cref="Command"/> subclass per verb lives in Commands/.</summary>
public static class CliRoot
{
    public static RootCommand Build()
    {
        var root = new RootCommand("rdmadiag: tells why an iWARP (RDMA over TCP) connection fails, and how fast it is when it works.");
        foreach (var command in Verbs())
        {
            root.Subcommands.Add(command);
        }
        return root;
    }

    // Each verb adds itself here, one line per verb.
    private static IEnumerable<Command> Verbs()
    {
        yield return new SelftestCommand();
        yield return new BenchCommand();
        yield return new CaptureCommand();
        yield return new DecodeCommand();
    }

    public static int Run(string[] args, TextWriter output, TextWriter error)
    {
        var parse = Build().Parse(args);
        var config = new InvocationConfiguration { Output = output, Error = error, EnableDefaultExceptionHandler = false };
        try
        {
            return parse.Invoke(config);
        }
        catch (UserInputException e)
        {
            error.WriteLine($"rdmadiag: {e.Message}");
            return ExitCodes.BadInput;
        }
    }
}
