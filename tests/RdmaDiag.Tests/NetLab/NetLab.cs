using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Runtime.ExceptionServices;
using Microsoft.Win32.SafeHandles;
using RdmaDiag.Native;

namespace RdmaDiag.Tests.Netns;

/// <summary>
/// A small network of Linux network namespaces for tests: a client and a server, by default with a router
/// namespace between them, joined by veth pairs and created and removed by the lab.
/// <code>
///   client                 router                          server
///   eth0 192.0.2.2/24 ──── eth0 192.0.2.1/24
///   (default via .1)       eth1 198.51.100.1/24 ────────── eth0 198.51.100.2/24 (default via .1)
///                          (ip_forward=1)
/// </code>
/// Without the router the client (192.0.2.2/24) and the server (192.0.2.3/24) share one link. Addresses
/// are the RFC 5737 documentation networks; they exist only inside the namespaces, so labs never collide.
/// Each node runs code on a thread that has joined its namespace (<see cref="NetNode.Run{T}"/>), runs
/// commands in it, loads nftables rules, sets MTUs and sysctls. Dispose removes everything, including
/// processes started in the nodes; namespaces left behind by a test process that died are removed by
/// the next lab.
/// </summary>
public sealed class NetLab : IDisposable
{
    private const string Prefix = "rdlab";
    private static int _sequence;
    private static readonly Lazy<string?> Missing = new(FindMissing);

    private readonly List<NetNode> _nodes = [];

    private NetLab(bool routed)
    {
        string tag = $"{Prefix}-{Environment.ProcessId}-{Interlocked.Increment(ref _sequence)}";
        Client = new NetNode($"{tag}-c", IPAddress.Parse("192.0.2.2"));
        Server = new NetNode($"{tag}-s", IPAddress.Parse(routed ? "198.51.100.2" : "192.0.2.3"));
        Router = routed ? new NetNode($"{tag}-r", IPAddress.Parse("192.0.2.1")) : null;
        _nodes.AddRange(Router is null ? [Client, Server] : [Client, Router, Server]);
    }

    public NetNode Client { get; }

    /// <summary>The router between client and server; null in a lab made without one.</summary>
    public NetNode? Router { get; }

    public NetNode Server { get; }

    /// <summary>Why labs cannot be made here (not root, iproute2 or nftables missing, namespaces refused), or null.</summary>
    public static string? MissingReason => Missing.Value;

    /// <summary>Builds the namespaces, links, addresses and routes. Throws <see cref="InvalidOperationException"/> with the failing command.</summary>
    public static NetLab Create(bool router = true)
    {
        RemoveStale();
        var lab = new NetLab(router);
        try
        {
            lab.Build();
        }
        catch
        {
            lab.Dispose();
            throw;
        }
        return lab;
    }

    private void Build()
    {
        string c = Client.Namespace, s = Server.Namespace;
        if (Router is { } router)
        {
            string r = router.Namespace;
            Shell.Run("ip", ["-batch", "-"], $"""
                netns add {c}
                netns add {r}
                netns add {s}
                link add name eth0 netns {c} type veth peer name eth0 netns {r}
                link add name eth1 netns {r} type veth peer name eth0 netns {s}
                """);
            Configure(Client, "192.0.2.2/24", "192.0.2.1");
            Configure(Server, "198.51.100.2/24", "198.51.100.1");
            Shell.Run("ip", ["-n", r, "-batch", "-"], """
                link set lo up
                addr add 192.0.2.1/24 dev eth0
                addr add 198.51.100.1/24 dev eth1
                link set eth0 up
                link set eth1 up
                """);
            router.Interfaces = ["eth0", "eth1"];
            router.Sysctl("net.ipv4.ip_forward", "1");
        }
        else
        {
            Shell.Run("ip", ["-batch", "-"], $"""
                netns add {c}
                netns add {s}
                link add name eth0 netns {c} type veth peer name eth0 netns {s}
                """);
            Configure(Client, "192.0.2.2/24", gateway: null);
            Configure(Server, "192.0.2.3/24", gateway: null);
        }
        foreach (NetNode node in _nodes)
        {
            node.WaitUntilUp(TimeSpan.FromSeconds(5));
        }
    }

    private static void Configure(NetNode node, string address, string? gateway)
    {
        Shell.Run("ip", ["-n", node.Namespace, "-batch", "-"], $"""
            link set lo up
            addr add {address} dev eth0
            link set eth0 up
            {(gateway is null ? "" : $"route add default via {gateway}")}
            """);
        node.Interfaces = ["eth0"];
    }

    /// <summary>Removes namespaces of earlier labs whose test process no longer runs.</summary>
    private static void RemoveStale()
    {
        if (!Directory.Exists("/var/run/netns"))
        {
            return;
        }
        foreach (string path in Directory.GetFiles("/var/run/netns", $"{Prefix}-*"))
        {
            string[] parts = Path.GetFileName(path).Split('-');
            if (parts.Length >= 2 && int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out int pid) && !Directory.Exists($"/proc/{pid}"))
            {
                Shell.TryRun("ip", "netns", "del", Path.GetFileName(path));
            }
        }
    }

    public void Dispose()
    {
        foreach (NetNode node in _nodes)
        {
            node.StopProcesses();
        }
        foreach (NetNode node in _nodes)
        {
            Shell.TryRun("ip", "netns", "del", node.Namespace);
        }
    }

    private static string? FindMissing()
    {
        if (!IsRoot())
        {
            return "needs root to create network namespaces: run the tests as root (sudo ./test)";
        }
        if (Shell.Find("ip") is null)
        {
            return "needs iproute2's `ip` for network namespaces: apt-get install iproute2";
        }
        if (Shell.Find("nft") is null)
        {
            return "needs `nft` for the firewall cases: apt-get install nftables";
        }
        string probe = $"{Prefix}-{Environment.ProcessId}-probe";
        if (!Shell.TryRun("ip", "netns", "add", probe))
        {
            return "this host refuses new network namespaces (a container without CAP_SYS_ADMIN?): run the netns tier on a VM or host as root";
        }
        Shell.TryRun("ip", "netns", "del", probe);
        return null;
    }

    private static bool IsRoot()
    {
        try
        {
            return File.ReadAllLines("/proc/self/status")
                .Any(l => l.StartsWith("Uid:", StringComparison.Ordinal) && l.Split('\t', StringSplitOptions.RemoveEmptyEntries)[1] == "0");
        }
        catch (IOException)
        {
            return false;
        }
    }
}

/// <summary>One namespace of a <see cref="NetLab"/>: its address, its interfaces, and ways to act inside it.</summary>
public sealed class NetNode
{
    private readonly List<Process> _processes = [];

    internal NetNode(string name, IPAddress address)
    {
        Namespace = name;
        Address = address;
    }

    public string Namespace { get; }

    /// <summary>The address the other nodes reach this one at (the router's is its client-side one).</summary>
    public IPAddress Address { get; }

    /// <summary>The lab-facing interfaces: eth0 (and eth1 on the router, towards the server).</summary>
    public IReadOnlyList<string> Interfaces { get; internal set; } = [];

    /// <summary>
    /// Runs <paramref name="work"/> on a new thread that has joined this namespace and returns its result;
    /// an exception it throws is rethrown here unwrapped, so tests assert on it directly. Sockets created
    /// there (and threads started from there) live in the namespace and work from any thread afterwards.
    /// </summary>
    public T Run<T>(Func<T> work)
    {
        // setns moves only the calling thread, so the work gets a fresh OS thread rather than a pool
        // thread that would stay in the namespace after it returns.
        T result = default!;
        ExceptionDispatchInfo? failure = null;
        var thread = new Thread(() =>
        {
            try
            {
                using SafeFileHandle handle = File.OpenHandle($"/var/run/netns/{Namespace}");
                if (Interop.Libc.setns((int)handle.DangerousGetHandle(), Interop.Libc.CLONE_NEWNET) != 0)
                {
                    throw Interop.Libc.LastError($"setns({Namespace})");
                }
                result = work();
            }
            catch (Exception e)
            {
                failure = ExceptionDispatchInfo.Capture(e);
            }
        });
        thread.Start();
        thread.Join();
        failure?.Throw();
        return result;
    }

    public void Run(Action work) => Run(() =>
    {
        work();
        return 0;
    });

    /// <summary>Runs a command in this namespace (ip netns exec) and returns its stdout; throws with stderr when it fails.</summary>
    public string Exec(params string[] command) => Shell.Run("ip", ["netns", "exec", Namespace, .. command]);

    /// <summary>Loads an nftables ruleset (nft -f syntax) into this namespace; it goes when the namespace goes.</summary>
    public void Nft(string ruleset) => Shell.Run("ip", ["netns", "exec", Namespace, "nft", "-f", "-"], ruleset);

    /// <summary>Sets a sysctl of this namespace (net.* keys are per namespace): <c>Sysctl("net.ipv4.tcp_syn_retries", "2")</c>.</summary>
    public void Sysctl(string key, string value) =>
        Run(() => File.WriteAllText($"/proc/sys/{key.Replace('.', '/')}", value));

    public string ReadSysctl(string key) => Run(() => File.ReadAllText($"/proc/sys/{key.Replace('.', '/')}").Trim());

    /// <summary>
    /// Waits until every lab interface of this node is operationally up. Until the kernel's link watcher
    /// has run (up to a second after "ip link set up") a veth has no queue and drops what is sent, which
    /// would cost a test its first SYN.
    /// </summary>
    public void WaitUntilUp(TimeSpan limit)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            string links = Shell.Run("ip", ["-n", Namespace, "-o", "link", "show"]);
            var down = Interfaces.Where(i => !links.Split('\n').Any(l => l.Contains($" {i}@", StringComparison.Ordinal) && l.Contains("state UP", StringComparison.Ordinal))).ToList();
            if (down.Count == 0)
            {
                return;
            }
            if (clock.Elapsed > limit)
            {
                throw new InvalidOperationException($"{string.Join(", ", down)} in {Namespace} not up after {limit.TotalSeconds} s:\n{links}");
            }
            Thread.Sleep(20);
        }
    }

    public void SetMtu(string interfaceName, int mtu) =>
        Shell.Run("ip", ["-n", Namespace, "link", "set", "dev", interfaceName, "mtu", mtu.ToString(CultureInfo.InvariantCulture)]);

    /// <summary>Starts a long-running command in this namespace (stdout and stderr redirected); the lab kills it on Dispose.</summary>
    public Process Start(params string[] command)
    {
        var info = new ProcessStartInfo("ip") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        foreach (string argument in (string[])["netns", "exec", Namespace, .. command])
        {
            info.ArgumentList.Add(argument);
        }
        var process = Process.Start(info) ?? throw new InvalidOperationException($"could not start {string.Join(' ', command)} in {Namespace}");
        lock (_processes)
        {
            _processes.Add(process);
        }
        return process;
    }

    internal void StopProcesses()
    {
        lock (_processes)
        {
            foreach (Process process in _processes)
            {
                try
                {
                    if (!process.HasExited)
                    {
                        process.Kill(entireProcessTree: true);
                        process.WaitForExit(5000);
                    }
                }
                catch (InvalidOperationException)
                {
                    // Exited between the check and the kill.
                }
                process.Dispose();
            }
            _processes.Clear();
        }
    }

    public override string ToString() => $"{Namespace} ({Address})";
}

/// <summary>Runs helper tools (ip, nft) and reports their stderr when they fail.</summary>
internal static class Shell
{
    public static string Run(string file, string[] arguments, string? input = null)
    {
        var info = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = input is not null };
        foreach (string argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }
        using var process = Process.Start(info) ?? throw new InvalidOperationException($"could not start {file}");
        if (input is not null)
        {
            process.StandardInput.Write(input);
            process.StandardInput.Close();
        }
        Task<string> stdout = process.StandardOutput.ReadToEndAsync();
        string stderr = process.StandardError.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{file} {string.Join(' ', arguments)}: exit {process.ExitCode}: {stderr.Trim()}{(input is null ? "" : $"\ninput:\n{input}")}");
        }
        return stdout.Result;
    }

    public static bool TryRun(string file, params string[] arguments)
    {
        try
        {
            Run(file, arguments);
            return true;
        }
        catch (Exception e) when (e is InvalidOperationException or System.ComponentModel.Win32Exception)
        {
            return false;
        }
    }

    public static string? Find(string tool) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "/usr/sbin:/usr/bin:/sbin:/bin").Split(':')
            .Concat(["/usr/sbin", "/sbin"])
            .Select(dir => Path.Combine(dir, tool))
            .FirstOrDefault(File.Exists);
}

/// <summary>A [Fact] that needs a <see cref="NetLab"/> (root, iproute2, nftables); it skips with how to enable it.</summary>
public sealed class NetLabFactAttribute : FactAttribute
{
    public NetLabFactAttribute()
    {
        Skip = NetLab.MissingReason;
    }
}

/// <summary>A [Theory] that needs a <see cref="NetLab"/>; it skips with how to enable it.</summary>
public sealed class NetLabTheoryAttribute : TheoryAttribute
{
    public NetLabTheoryAttribute()
    {
        Skip = NetLab.MissingReason;
    }
}
