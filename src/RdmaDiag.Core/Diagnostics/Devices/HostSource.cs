using System.Diagnostics;
using System.Net.NetworkInformation;
using System.Net.Sockets;

namespace RdmaDiag.Diagnostics.Devices;

/// <summary>
/// Everything the device report reads from the host: files under /sys, /proc, /boot, /lib/modules and
/// /etc, symlinks, helper tools (rdma, systemd-detect-virt) and interface addresses. Paths are absolute
/// host paths; an implementation may map them under another root so tests can use fixture trees.
/// </summary>
public interface IHostSource
{
    bool FileExists(string path);

    bool DirectoryExists(string path);

    /// <summary>The file's text with trailing whitespace trimmed, or null when missing or unreadable (sysfs EINVAL).</summary>
    string? ReadText(string path);

    byte[]? ReadBytes(string path);

    /// <summary>Entry names of a directory, sorted ordinally; empty when it does not exist.</summary>
    IReadOnlyList<string> List(string path);

    /// <summary>The target of a symlink as stored (often relative), or null when <paramref name="path"/> is no symlink.</summary>
    string? ReadLink(string path);

    /// <summary>stdout of a helper tool, or null when it is not installed, fails, or runs over its time.</summary>
    string? RunTool(string tool, params string[] args);

    /// <summary>Unicast addresses with prefix length (192.0.2.10/24) of an interface.</summary>
    IReadOnlyList<string> InterfaceAddresses(string interfaceName);
}

/// <summary>The real host, or a directory tree standing in for "/" (tools and addresses supplied by the caller).</summary>
public sealed class HostSource : IHostSource
{
    private readonly string _root;
    private readonly Func<string, string[], string?> _runTool;
    private readonly Func<string, IReadOnlyList<string>> _addresses;

    private HostSource(string root, Func<string, string[], string?> runTool, Func<string, IReadOnlyList<string>> addresses)
    {
        _root = root;
        _runTool = runTool;
        _addresses = addresses;
    }

    public static HostSource Live { get; } = new("/", RunLiveTool, LiveAddresses);

    /// <summary>A tree under <paramref name="root"/> read as if it were "/".</summary>
    public static HostSource Rooted(string root, Func<string, string[], string?>? runTool = null, Func<string, IReadOnlyList<string>>? addresses = null) =>
        new(Path.GetFullPath(root), runTool ?? ((_, _) => null), addresses ?? (_ => []));

    private string Map(string path) =>
        _root == "/" ? path : Path.Join(_root, path.TrimStart('/'));

    public bool FileExists(string path) => File.Exists(Map(path));

    public bool DirectoryExists(string path) => Directory.Exists(Map(path));

    public string? ReadText(string path)
    {
        try
        {
            var mapped = Map(path);
            return File.Exists(mapped) ? File.ReadAllText(mapped).TrimEnd() : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    public byte[]? ReadBytes(string path)
    {
        try
        {
            var mapped = Map(path);
            return File.Exists(mapped) ? File.ReadAllBytes(mapped) : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    public IReadOnlyList<string> List(string path)
    {
        try
        {
            var mapped = Map(path);
            if (!Directory.Exists(mapped))
            {
                return [];
            }
            var names = new DirectoryInfo(mapped).EnumerateFileSystemInfos().Select(i => i.Name).ToList();
            names.Sort(StringComparer.Ordinal);
            return names;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return [];
        }
    }

    public string? ReadLink(string path)
    {
        try
        {
            return new FileInfo(Map(path)).LinkTarget;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    public string? RunTool(string tool, params string[] args) => _runTool(tool, args);

    public IReadOnlyList<string> InterfaceAddresses(string interfaceName) => _addresses(interfaceName);

    // systemd-detect-virt exits 1 while printing "none": the text is what matters, whatever the exit code.
    private static string? RunLiveTool(string tool, string[] args)
    {
        HostCommandResult result = HostCommand.Run(tool, args, TimeSpan.FromSeconds(3));
        return result.Ran ? result.Stdout.TrimEnd() : null;
    }

    private static IReadOnlyList<string> LiveAddresses(string interfaceName)
    {
        try
        {
            var nic = NetworkInterface.GetAllNetworkInterfaces().FirstOrDefault(n => n.Name == interfaceName);
            if (nic is null)
            {
                return [];
            }
            return nic.GetIPProperties().UnicastAddresses
                .Where(a => a.Address.AddressFamily is AddressFamily.InterNetwork or AddressFamily.InterNetworkV6)
                .Select(a => $"{a.Address}/{a.PrefixLength}")
                .ToList();
        }
        catch (NetworkInformationException)
        {
            return [];
        }
    }
}
