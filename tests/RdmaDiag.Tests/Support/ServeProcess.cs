using System.Diagnostics;
using System.Net;
using System.Runtime.InteropServices;
using System.Text.RegularExpressions;

namespace RdmaDiag.Tests.Support;

/// <summary>
/// `rdmadiag serve ...` as a child process of the test: started, its listening line parsed, its log read line
/// by line (past the latency responders' start-up lines), signalled, and killed on dispose if still running.
/// </summary>
internal sealed partial class ServeProcess : IDisposable
{
    private readonly Process _process;

    private ServeProcess(Process process, string banner, IPEndPoint endpoint)
    {
        _process = process;
        Banner = banner;
        EndPoint = endpoint;
    }

    public string Banner { get; }

    public IPEndPoint EndPoint { get; }

    public int ExitCode => _process.ExitCode;

    public static async Task<ServeProcess> StartAsync(string arguments)
    {
        string dll = Path.Combine(AppContext.BaseDirectory, "rdmadiag.dll");
        var start = new ProcessStartInfo("dotnet", $"\"{dll}\" {arguments}")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        Process process = Process.Start(start)!;
        try
        {
            string first = (await process.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(30)))!;
            Match listening = ListeningLine().Match(first);
            Assert.True(listening.Success, first);
            return new ServeProcess(process, first, IPEndPoint.Parse(listening.Groups[1].Value));
        }
        catch
        {
            process.Kill();
            process.Dispose();
            throw;
        }
    }

    /// <summary>The next connection line of the log, past the latency responders' start-up lines.</summary>
    public async Task<string> NextLogLineAsync()
    {
        while (true)
        {
            string line = (await _process.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(10)))!;
            if (!line.StartsWith("latency: ", StringComparison.Ordinal))
            {
                return line;
            }
        }
    }

    /// <summary>Sends <paramref name="signal"/>, waits for the exit and returns the rest of the log.</summary>
    public async Task<string> StopAsync(int signal)
    {
        Assert.Equal(0, kill(_process.Id, signal));
        await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
        return await _process.StandardOutput.ReadToEndAsync();
    }

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            _process.Kill();
        }
        _process.Dispose();
    }

    [GeneratedRegex(@"listening on (\S+) ")]
    private static partial Regex ListeningLine();

    [LibraryImport("libc", SetLastError = true)]
    private static partial int kill(int pid, int signal);
}
