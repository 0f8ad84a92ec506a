using RdmaDiag.Diagnostics.Devices;
using RdmaDiag.Native;

namespace RdmaDiag.Tests.Native;

/// <summary>
/// Materializes a TestData/sysfs/*.tree description (see its README) into a temporary directory with
/// real files and symlinks, and exposes it through the production <see cref="HostSource.Rooted"/>.
/// </summary>
internal sealed class SysfsFixture : IDisposable
{
    private readonly Dictionary<string, string> _tools = new(StringComparer.Ordinal);
    private readonly Dictionary<string, IReadOnlyList<string>> _addresses = new(StringComparer.Ordinal);

    private SysfsFixture(string root)
    {
        Root = root;
        Host = HostSource.Rooted(root,
            (tool, args) => _tools.GetValueOrDefault($"{tool} {string.Join(' ', args)}"),
            name => _addresses.GetValueOrDefault(name) ?? []);
    }

    public string Root { get; }

    public IHostSource Host { get; }

    public static SysfsFixture Load(string name)
    {
        var file = Path.Combine(AppContext.BaseDirectory, "TestData", "sysfs", name);
        var root = Directory.CreateTempSubdirectory("rdmadiag-sysfs-").FullName;
        var fixture = new SysfsFixture(root);
        try
        {
            fixture.Apply(File.ReadAllLines(file));
        }
        catch
        {
            fixture.Dispose();
            throw;
        }
        return fixture;
    }

    private void Apply(string[] lines)
    {
        var cwd = "/";
        for (var i = 0; i < lines.Length; i++)
        {
            var line = lines[i];
            if (line.Length == 0 || line.StartsWith('#'))
            {
                continue;
            }
            if (line.StartsWith("@cd ", StringComparison.Ordinal))
            {
                cwd = line[4..].Trim();
                continue;
            }
            if (line.StartsWith("@tool ", StringComparison.Ordinal))
            {
                var (key, value) = Split(line[6..], " => ");
                _tools[key] = value.Replace("\\n", "\n");
                continue;
            }
            if (line.StartsWith("@addr ", StringComparison.Ordinal))
            {
                var (key, value) = Split(line[6..], " => ");
                _addresses[key] = value.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                continue;
            }
            if (line.EndsWith(" <<", StringComparison.Ordinal))
            {
                var body = new List<string>();
                for (i++; i < lines.Length && lines[i] != "<<"; i++)
                {
                    body.Add(lines[i]);
                }
                WriteFile(Resolve(cwd, line[..^3]), string.Join('\n', body) + "\n");
            }
            else if (line.Contains(" -> ", StringComparison.Ordinal))
            {
                var (path, target) = Split(line, " -> ");
                var local = Resolve(cwd, path);
                Directory.CreateDirectory(Path.GetDirectoryName(local)!);
                File.CreateSymbolicLink(local, target);
            }
            else if (line.Contains(" =", StringComparison.Ordinal))
            {
                var eq = line.IndexOf(" =", StringComparison.Ordinal);
                var value = line[(eq + 2)..].TrimStart();
                WriteFile(Resolve(cwd, line[..eq]), value.Length == 0 ? "" : value + "\n");
            }
            else if (line.EndsWith('/'))
            {
                Directory.CreateDirectory(Resolve(cwd, line));
            }
            else
            {
                throw new FormatException($"fixture line {i + 1}: '{line}' is none of: path = value, path -> target, path/, path <<");
            }
        }
    }

    private string Resolve(string cwd, string path)
    {
        var absolute = path.StartsWith('/') ? path : $"{cwd.TrimEnd('/')}/{path}";
        return Path.Join(Root, absolute.TrimStart('/'));
    }

    private static void WriteFile(string path, string content)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, content);
    }

    private static (string, string) Split(string text, string separator)
    {
        var at = text.IndexOf(separator, StringComparison.Ordinal);
        return (text[..at].Trim(), text[(at + separator.Length)..].Trim());
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

/// <summary>rdma-core as a test wants it: libraries present or not, a device-list error, or device details.</summary>
internal sealed class FakeUserspace(
    bool librariesAvailable = true,
    string? listError = null,
    int? listErrno = null,
    IReadOnlyDictionary<string, VerbsDetails>? devices = null) : IRdmaUserspace
{
    public NativeLibraryStatus Verbs { get; } = librariesAvailable
        ? NativeLibraryStatus.Available("libibverbs.so.1", "libibverbs1")
        : NativeLibraryStatus.Unavailable("libibverbs.so.1", "libibverbs1", "libibverbs.so.1 could not be loaded (rdma-core userspace is not installed); install it with: apt-get install libibverbs1");

    public NativeLibraryStatus RdmaCm { get; } = librariesAvailable
        ? NativeLibraryStatus.Available("librdmacm.so.1", "librdmacm1")
        : NativeLibraryStatus.Unavailable("librdmacm.so.1", "librdmacm1", "librdmacm.so.1 could not be loaded (rdma-core userspace is not installed); install it with: apt-get install librdmacm1");

    public (IReadOnlyDictionary<string, VerbsDetails> Devices, string? ListError, int? ListErrno) Query() =>
        (devices ?? new Dictionary<string, VerbsDetails>(), listError, listErrno);

    public static FakeUserspace NoKernelRdma() => new(listError: "ibv_get_device_list failed: Function not implemented (errno 38, ENOSYS)", listErrno: Errno.ENOSYS);
}
