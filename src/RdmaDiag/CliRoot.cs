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
        yield return new DevicesCommand();
        yield return new CaptureCommand();
        yield return new LatencyCommand();
        yield return new BenchCommand();
        yield return new ServeCommand();
    }

    public static int Run(string[] args, TextWriter output, TextWriter error)
    {
        var parse = Build().Parse(args.Length == 0 ? ["--help"] : args);
        if (parse.Errors.Count > 0 && !WantsHelp(args))
        {
            // One line, naming the input; `--help` on the command shows the rest.
            var command = string.Join(' ', parse.CommandResult.Command.Name == "rdmadiag" ? [] : CommandPath(parse.CommandResult));
            error.WriteLine($"rdmadiag{(command.Length > 0 ? " " + command : "")}: {FirstError(parse).Message} (see --help)");
            return ExitCodes.BadInput;
        }
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

    // An unknown word explains more than the "required command" that its absence also triggers.
    private static System.CommandLine.Parsing.ParseError FirstError(ParseResult parse) =>
        parse.Errors.FirstOrDefault(e => e.Message.StartsWith("Unrecognized", StringComparison.Ordinal)) ?? parse.Errors[0];

    private static bool WantsHelp(string[] args) => args.Any(a => a is "-h" or "--help" or "-?" or "--version");

    private static IEnumerable<string> CommandPath(System.CommandLine.Parsing.CommandResult result)
    {
        var names = new Stack<string>();
        for (var r = result; r is not null && r.Parent is not null; r = r.Parent as System.CommandLine.Parsing.CommandResult)
        {
            names.Push(r.Command.Name);
        }
        return names;
    }
}
