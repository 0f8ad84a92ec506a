namespace RdmaDiag.Cli.Output;

/// <summary>
/// A file written as FILE.tmp and renamed over FILE on <see cref="Commit"/>, so a reader never sees half
/// a file. Opened before the work starts, so an unwritable path fails at once, not after a long run.
/// </summary>
internal sealed class AtomicFile : IDisposable
{
    private readonly string _path;
    private readonly string _temporary;
    private FileStream? _stream;

    private AtomicFile(string path, string temporary, FileStream stream)
    {
        _path = path;
        _temporary = temporary;
        _stream = stream;
    }

    public Stream Stream => _stream ?? throw new ObjectDisposedException(_path);

    /// <exception cref="UserInputException">the file cannot be created.</exception>
    public static AtomicFile Create(string path, string option)
    {
        var full = Path.GetFullPath(path);
        var temporary = full + ".tmp";
        if (Directory.Exists(full))
        {
            throw new UserInputException($"{option} {path}: is a directory; expected a file name");
        }
        try
        {
            return new AtomicFile(full, temporary, new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or NotSupportedException)
        {
            throw new UserInputException($"{option} {path}: cannot write {temporary}: {e.Message}");
        }
    }

    public void Commit()
    {
        var stream = Stream;
        stream.Flush();
        stream.Dispose();
        _stream = null;
        File.Move(_temporary, _path, overwrite: true);
    }

    public void Dispose()
    {
        if (_stream is not null)
        {
            _stream.Dispose();
            _stream = null;
            File.Delete(_temporary);
        }
    }
}
