using System.ComponentModel;
using System.Diagnostics;
using System.Text;

namespace RdmaDiag.Diagnostics;

/// <summary>What one environment command did: its output, exit status and time, or why it did not run or finish.</summary>
public sealed record HostCommandResult(string CommandLine, int? ExitCode, string Stdout, string Stderr, TimeSpan Elapsed, string? Problem)
{
    public bool Ran => Problem is null;
}

/// <summary>
/// Runs a tool of the host with a timeout: LC_ALL=C (stable text), stdin closed, stdout and stderr kept
/// apart; a tool not on PATH (or in /sbin and /usr/sbin, where root's tools live) is reported, not thrown.
/// </summary>
public static class HostCommand
{
    private static readonly string[] SystemDirectories = ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"];

    /// <summary>Output past this many characters is cut (an iptables-save of a big firewall still fits).</summary>
    private const int MaxOutput = 8 << 20;

    /// <summary>The full path of <paramref name="tool"/>, or null when it is not installed.</summary>
    public static string? Find(string tool) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Concat(SystemDirectories)
            .Select(d => Path.Combine(d, tool))
            .FirstOrDefault(File.Exists);

    public static HostCommandResult Run(string tool, IReadOnlyList<string> arguments, TimeSpan timeout, string? package = null)
    {
        string commandLine = string.Join(' ', new[] { tool }.Concat(arguments.Select(Quote)));
        string? path = Find(tool);
        if (path is null)
        {
            return new HostCommandResult(commandLine, null, "", "", TimeSpan.Zero,
                $"{tool} is not installed{(package is null ? "" : $" (apt-get install {package})")}");
        }
        var start = new ProcessStartInfo(path)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        start.Environment["LC_ALL"] = "C";
        long began = Stopwatch.GetTimestamp();
        Process process;
        try
        {
            process = Process.Start(start)!;
        }
        catch (Win32Exception e)
        {
            return new HostCommandResult(commandLine, null, "", "", TimeSpan.Zero, $"{tool} could not start: {e.Message}");
        }
        using (process)
        {
            process.StandardInput.Close();
            Task<string> stdout = ReadAsync(process.StandardOutput);
            Task<string> stderr = ReadAsync(process.StandardError);
            if (!process.WaitForExit(timeout))
            {
                process.Kill(entireProcessTree: true);
                process.WaitForExit(TimeSpan.FromSeconds(2));
                return new HostCommandResult(commandLine, null, Completed(stdout), Completed(stderr), Stopwatch.GetElapsedTime(began),
                    $"{tool} did not finish within {timeout.TotalSeconds:0.#} s and was killed");
            }
            process.WaitForExit();
            return new HostCommandResult(commandLine, process.ExitCode, stdout.Result, stderr.Result, Stopwatch.GetElapsedTime(began), null);
        }
    }

    private static async Task<string> ReadAsync(StreamReader reader)
    {
        var text = new StringBuilder();
        var buffer = new char[8192];
        int n;
        while ((n = await reader.ReadAsync(buffer).ConfigureAwait(false)) > 0)
        {
            if (text.Length < MaxOutput)
            {
                text.Append(buffer, 0, Math.Min(n, MaxOutput - text.Length));
            }
        }
        return text.Length >= MaxOutput ? text.Append($"\n[cut at {MaxOutput} characters]\n").ToString() : text.ToString();
    }

    private static string Completed(Task<string> output) => output.Wait(TimeSpan.FromSeconds(1)) ? output.Result : "";

    private static string Quote(string argument) =>
        argument.Length > 0 && argument.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' or '/' or ':' or '=' or ',') ? argument : $"'{argument}'";
}
