using System.Diagnostics;
using RdmaDiag.Native;

namespace RdmaDiag.Tests.Latency;

/// <summary>A fact that needs root and iproute2 (network namespaces); skips with how to enable it.</summary>
public sealed class RootNetnsFactAttribute : FactAttribute
{
    public RootNetnsFactAttribute()
    {
        if (Environment.UserName != "root" && !IsRoot())
        {
            Skip = "needs root to create network namespaces: run the tests as root (sudo dotnet test)";
        }
        else if (!File.Exists("/usr/sbin/ip") && !File.Exists("/sbin/ip") && !File.Exists("/usr/bin/ip"))
        {
            Skip = "needs iproute2's `ip` for network namespaces: apt-get install iproute2";
        }
    }

    private static bool IsRoot() => File.ReadAllLines("/proc/self/status").Any(l => l.StartsWith("Uid:") && l.Split('\t', StringSplitOptions.RemoveEmptyEntries)[1] == "0");
}

/// <summary>
/// Two network namespaces joined by a veth pair, created with unique names and removed on Dispose.
/// Addresses come from 198.18.0.0/15 (RFC 2544 benchmarking), inside the namespaces only.
/// </summary>
public sealed class NetnsPair : IDisposable
{
    public NetnsPair()
    {
        var tag = $"{Environment.ProcessId % 10000}{Random.Shared.Next(1000):000}";
        A = $"rdl-{tag}-a";
        B = $"rdl-{tag}-b";
        var subnet = Random.Shared.Next(0, 256);
        AddressA = $"198.18.{subnet}.1";
        AddressB = $"198.18.{subnet}.2";
        var vethA = $"rdl{tag}a";
        var vethB = $"rdl{tag}b";
        try
        {
            Ip($"netns add {A}");
            Ip($"netns add {B}");
            Ip($"link add {vethA} type veth peer name {vethB}");
            Ip($"link set {vethA} netns {A}");
            Ip($"link set {vethB} netns {B}");
            Ip($"-n {A} addr add {AddressA}/30 dev {vethA}");
            Ip($"-n {B} addr add {AddressB}/30 dev {vethB}");
            Ip($"-n {A} link set {vethA} up");
            Ip($"-n {B} link set {vethB} up");
            Ip($"-n {A} link set lo up");
            Ip($"-n {B} link set lo up");
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public string A { get; }
    public string B { get; }
    public string AddressA { get; }
    public string AddressB { get; }

    /// <summary>Runs <paramref name="work"/> on a fresh OS thread that has joined namespace
    /// <paramref name="ns"/>; sockets it creates (and threads it starts) live there.</summary>
    public static T RunIn<T>(string ns, Func<T> work)
    {
        T result = default!;
        Exception? failure = null;
        var thread = new Thread(() =>
        {
            try
            {
                using var handle = File.OpenHandle($"/var/run/netns/{ns}");
                if (Interop.Libc.setns((int)handle.DangerousGetHandle(), Interop.Libc.CLONE_NEWNET) != 0)
                {
                    throw Interop.Libc.LastError($"setns({ns})");
                }
                result = work();
            }
            catch (Exception e)
            {
                failure = e;
            }
        });
        thread.Start();
        thread.Join();
        if (failure is not null)
        {
            throw new AggregateException($"in network namespace {ns}", failure);
        }
        return result;
    }

    public void Dispose()
    {
        foreach (var ns in new[] { A, B })
        {
            try
            {
                Ip($"netns del {ns}");
            }
            catch (InvalidOperationException)
            {
                // Not created (setup failed part-way); nothing to remove.
            }
        }
    }

    private static void Ip(string arguments)
    {
        using var process = Process.Start(new ProcessStartInfo("ip", arguments) { RedirectStandardError = true, RedirectStandardOutput = true })!;
        var error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"ip {arguments}: exit {process.ExitCode}: {error.Trim()}");
        }
    }
}
