using System.Diagnostics;
using System.Net;
using System.Runtime.InteropServices;

namespace RdmaDiag.Tests.Endpoint;

/// <summary>
/// Two network namespaces joined by a veth pair (10.199.0.1 in A, 10.199.0.2 in B, MTU 1500), created
/// with unique names and removed on dispose. Sockets belong to the namespace of the thread that
/// creates them, so <see cref="Run{T}"/> creates them on a thread moved there with setns(2); once
/// created they work from any thread. Needs root and iproute2.
/// </summary>
internal sealed partial class NetnsPair : IDisposable
{
    private const int CloneNewNet = 0x40000000;
    private static int s_counter;

    public static readonly IPAddress AddressA = IPAddress.Parse("10.199.0.1");
    public static readonly IPAddress AddressB = IPAddress.Parse("10.199.0.2");

    private NetnsPair(string a, string b)
    {
        A = a;
        B = b;
    }

    public string A { get; }

    public string B { get; }

    public static NetnsPair Create()
    {
        int id = Interlocked.Increment(ref s_counter);
        string a = $"rdt{Environment.ProcessId}x{id}a";
        string b = $"rdt{Environment.ProcessId}x{id}b";
        var pair = new NetnsPair(a, b);
        try
        {
            Ip($"netns add {a}");
            Ip($"netns add {b}");
            Ip($"link add name v{id}a netns {a} type veth peer name v{id}b netns {b}");
            Ip($"-n {a} addr add {AddressA}/24 dev v{id}a");
            Ip($"-n {b} addr add {AddressB}/24 dev v{id}b");
            foreach ((string ns, string dev) in new[] { (a, $"v{id}a"), (b, $"v{id}b") })
            {
                Ip($"-n {ns} link set {dev} up");
                Ip($"-n {ns} link set lo up");
            }
        }
        catch
        {
            pair.Dispose();
            throw;
        }
        return pair;
    }

    /// <summary>The reason netns tests cannot run here, or null when they can.</summary>
    public static string? Unavailable()
    {
        if (!OperatingSystem.IsLinux() || Environment.UserName != "root")
        {
            return "needs root on Linux to create network namespaces: run ./test (or dotnet test) as root";
        }
        try
        {
            string probe = $"rdtprobe{Environment.ProcessId}";
            Ip($"netns add {probe}");
            Ip($"netns del {probe}");
            return null;
        }
        catch (Exception e)
        {
            return $"cannot create a network namespace ({e.Message}): install iproute2 and run as root";
        }
    }

    public static void Ip(string arguments)
    {
        var start = new ProcessStartInfo("ip", arguments) { RedirectStandardError = true, RedirectStandardOutput = true };
        using Process process = Process.Start(start) ?? throw new InvalidOperationException("cannot start ip");
        string error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"ip {arguments}: {error.Trim()}");
        }
    }

    /// <summary>Runs <paramref name="action"/> on a new thread inside namespace <paramref name="ns"/>.</summary>
    public static T Run<T>(string ns, Func<T> action)
    {
        T result = default!;
        Exception? failure = null;
        var thread = new Thread(() =>
        {
            try
            {
                using var handle = File.OpenHandle($"/var/run/netns/{ns}");
                if (setns((int)handle.DangerousGetHandle(), CloneNewNet) != 0)
                {
                    throw new InvalidOperationException($"setns({ns}): {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}");
                }
                result = action();
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
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(failure).Throw();
        }
        return result;
    }

    public void Dispose()
    {
        foreach (string ns in new[] { A, B })
        {
            try
            {
                Ip($"netns del {ns}");
            }
            catch (InvalidOperationException)
            {
                // Never created, or already gone.
            }
        }
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial int setns(int fd, int nstype);
}

/// <summary>A fact that needs network namespaces; skipped with the reason when they cannot be made.</summary>
internal sealed class NetnsFactAttribute : FactAttribute
{
    private static readonly Lazy<string?> Reason = new(NetnsPair.Unavailable);

    public NetnsFactAttribute()
    {
        if (Reason.Value is { } reason)
        {
            Skip = reason;
        }
    }
}
