using System.Formats.Tar;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace RdmaDiag.Diagnostics.Bundle;

/// <summary>One file of the bundle as manifest.json lists it.</summary>
public sealed record BundleEntry(string Name, long Size, string Sha256, string Producer, bool Redacted);

/// <summary>
/// The bundle's files, staged in a private temporary directory, then written as one tar.gz. The archive goes
/// to <c>FILE.tmp</c>, opened before any work starts (an unwritable path fails at once) and renamed to FILE
/// only when complete; <see cref="Abandon"/> (Ctrl-C) and <see cref="Dispose"/> without a commit delete it,
/// so a half-written archive never appears under FILE.
/// </summary>
public sealed class BundleArchive : IDisposable
{
    public const string SummaryName = "SUMMARY.txt";
    public const string ManifestName = "manifest.json";

    private readonly object _lock = new();
    private readonly string _staging;
    private readonly List<(string Name, string Producer, bool Redacted)> _files = [];
    private readonly AddressRedactor? _redactor;
    private FileStream? _temporary;
    private bool _done;

    private BundleArchive(string path, FileStream temporary, string staging, AddressRedactor? redactor)
    {
        Path = path;
        TemporaryPath = temporary.Name;
        _temporary = temporary;
        _staging = staging;
        _redactor = redactor;
    }

    /// <summary>Where the archive will be once committed.</summary>
    public string Path { get; }

    public string TemporaryPath { get; }

    /// <summary>Replaces addresses in every text file added; null when --redact was not given.</summary>
    public AddressRedactor? Redactor => _redactor;

    /// <exception cref="UserInputException">FILE.tmp cannot be created (missing directory, no permission, a directory).</exception>
    public static BundleArchive Create(string path, bool redact)
    {
        string full = System.IO.Path.GetFullPath(path);
        if (Directory.Exists(full))
        {
            throw new UserInputException($"-o '{path}': is a directory; expected a file name such as bundle.tar.gz");
        }
        FileStream temporary;
        try
        {
            temporary = new FileStream(full + ".tmp", FileMode.Create, FileAccess.Write, FileShare.Read, 1 << 16);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or NotSupportedException)
        {
            throw new UserInputException($"-o '{path}': cannot write the archive ({full}.tmp): {e.Message}");
        }
        string staging = Directory.CreateTempSubdirectory("rdmadiag-bundle-").FullName;
        return new BundleArchive(full, temporary, staging, redact ? new AddressRedactor() : null);
    }

    /// <summary>A path in the staging directory for a file the caller writes itself (then <see cref="AddStaged"/>).</summary>
    public string StagingPath(string name)
    {
        string path = System.IO.Path.Combine(_staging, name);
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(path)!);
        return path;
    }

    /// <summary>Adds a text file; its addresses are replaced first when redacting.</summary>
    public void AddText(string name, string text, string producer)
    {
        string content = _redactor?.Redact(text) ?? text;
        File.WriteAllText(StagingPath(name), content, new UTF8Encoding(false));
        Record(name, producer, _redactor is not null);
    }

    /// <summary>Adds a binary file already written at <see cref="StagingPath"/> (a capture: never redacted).</summary>
    public void AddStaged(string name, string producer) => Record(name, producer, false);

    /// <summary>Copies a file in unchanged.</summary>
    public void AddCopy(string name, string source, string producer)
    {
        File.Copy(source, StagingPath(name), overwrite: true);
        Record(name, producer, false);
    }

    public bool Contains(string name) => _files.Any(f => f.Name == name);

    private void Record(string name, string producer, bool redacted)
    {
        _files.RemoveAll(f => f.Name == name);
        _files.Add((name, producer, redacted));
    }

    /// <summary>Size and SHA-256 of every file added so far, in the order added.</summary>
    public IReadOnlyList<BundleEntry> Entries() => _files.Select(f =>
    {
        string path = System.IO.Path.Combine(_staging, f.Name);
        using var stream = File.OpenRead(path);
        return new BundleEntry(f.Name, stream.Length, Convert.ToHexStringLower(SHA256.HashData(stream)), f.Producer, f.Redacted);
    }).ToList();

    /// <summary>
    /// Writes manifest.json (every other file: size, sha256, producer), then the archive: SUMMARY.txt and the
    /// manifest first, the rest in the order added; flushes it to disk and renames FILE.tmp to FILE.
    /// </summary>
    public IReadOnlyList<BundleEntry> Commit(string summary)
    {
        AddText(SummaryName, summary, "rdmadiag bundle: verdict, findings, latency, what was not collected");
        var entries = Entries();
        AddText(ManifestName, ManifestJson(entries), "rdmadiag bundle: the list of files");
        var order = new[] { SummaryName, ManifestName }.Concat(_files.Select(f => f.Name).Where(n => n is not (SummaryName or ManifestName)));
        lock (_lock)
        {
            FileStream stream = _temporary ?? throw new OperationCanceledException("the bundle was interrupted; the partial archive was deleted");
            using (var gzip = new GZipStream(stream, CompressionLevel.Optimal, leaveOpen: true))
            using (var tar = new TarWriter(gzip, TarEntryFormat.Pax, leaveOpen: true))
            {
                foreach (string name in order)
                {
                    tar.WriteEntry(System.IO.Path.Combine(_staging, name), name);
                }
            }
            stream.Flush(flushToDisk: true);
            stream.Dispose();
            _temporary = null;
            File.Move(TemporaryPath, Path, overwrite: true);
            _done = true;
        }
        return entries;
    }

    internal static string ManifestJson(IReadOnlyList<BundleEntry> entries)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            json.WriteStartObject();
            json.WriteString("format", "rdmadiag-bundle/1");
            json.WriteString("note", "every file but this one; SUMMARY.txt is listed, manifest.json cannot list its own hash");
            json.WriteStartArray("files");
            foreach (var e in entries)
            {
                json.WriteStartObject();
                json.WriteString("name", e.Name);
                json.WriteNumber("size", e.Size);
                json.WriteString("sha256", e.Sha256);
                json.WriteString("producer", e.Producer);
                json.WriteBoolean("redacted", e.Redacted);
                json.WriteEndObject();
            }
            json.WriteEndArray();
            json.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.ToArray()) + "\n";
    }

    /// <summary>
    /// Deletes FILE.tmp and the staging directory now (Ctrl-C: the process may exit before the bundle's thread
    /// notices). Safe from any thread; once committed only the staging directory goes.
    /// </summary>
    public void Abandon()
    {
        lock (_lock)
        {
            if (!_done)
            {
                _temporary?.Dispose();
                _temporary = null;
                File.Delete(TemporaryPath);
            }
            try
            {
                Directory.Delete(_staging, recursive: true);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Already gone, or a file in it still open elsewhere; the system's temporary directory cleanup takes it.
            }
        }
    }

    public void Dispose() => Abandon();
}
