using System.Buffers;
using System.Net;
using System.Net.Sockets;
using RdmaDiag.Endpoint;
using RdmaDiag.Tests.Netns;
using RdmaDiag.Wire.Mpa;

namespace RdmaDiag.Tests.CheckVerb;

/// <summary>`rdmadiag serve --soft` in process: a <see cref="SoftServer"/> listening in a lab node (or on loopback), with its log kept.</summary>
internal sealed class ServePeer : IDisposable
{
    private readonly SoftServer _server;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _serving;

    private ServePeer(SoftServer server, StringWriter log)
    {
        _server = server;
        Log = log;
        _serving = server.RunAsync(_stop.Token);
    }

    /// <summary>What the server logged: one line per connection set up, refused or ended.</summary>
    public StringWriter Log { get; }

    public IPEndPoint EndPoint => _server.LocalEndPoint;

    /// <summary>Starts serving in <paramref name="node"/>'s namespace, or on loopback (any free port) when it is null.</summary>
    public static ServePeer Start(NetNode? node, IwarpSetupOptions? setup = null, int port = IwarpSetupOptions.DefaultPort)
    {
        var log = new StringWriter();
        setup ??= IwarpSetupOptions.Default;
        SoftServer server = node is null
            ? SoftServer.Start(new IPEndPoint(IPAddress.Loopback, 0), setup, log)
            : node.Run(() => SoftServer.Start(new IPEndPoint(node.Address, port), setup, log));
        return new ServePeer(server, log);
    }

    public void Dispose()
    {
        _stop.Cancel();
        _serving.Wait(TimeSpan.FromSeconds(10));
        _server.Dispose();
        _stop.Dispose();
    }
}

/// <summary>
/// A TCP listener in a lab node whose connections each run a script: a plain TCP server that answers with
/// bytes or never answers, or an MPA responder that answers exactly as a test needs.
/// </summary>
internal sealed class ScriptedPeer : IDisposable
{
    private readonly TcpListener _listener;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _accepting;
    private readonly List<Socket> _sockets = [];

    private ScriptedPeer(TcpListener listener, Action<Socket> script)
    {
        _listener = listener;
        _accepting = Task.Run(async () =>
        {
            while (!_stop.IsCancellationRequested)
            {
                Socket socket;
                try
                {
                    socket = await _listener.AcceptSocketAsync(_stop.Token);
                }
                catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
                {
                    return;
                }
                lock (_sockets)
                {
                    _sockets.Add(socket);
                }
                _ = Task.Run(() =>
                {
                    try
                    {
                        script(socket);
                    }
                    catch (Exception e) when (e is SocketException or ObjectDisposedException or IOException)
                    {
                        // The client went away; the script has nothing more to do.
                    }
                });
            }
        });
    }

    public static ScriptedPeer Start(NetNode node, Action<Socket> script, int port = IwarpSetupOptions.DefaultPort) =>
        new(node.Run(() =>
        {
            var listener = new TcpListener(node.Address, port);
            listener.Start();
            return listener;
        }), script);

    /// <summary>Sends <paramref name="banner"/> on accept, then reads and ignores everything (an SSH or SMTP server).</summary>
    public static Action<Socket> Banner(byte[] banner) => socket =>
    {
        socket.Send(banner);
        Drain(socket);
    };

    /// <summary>Accepts and never sends a byte.</summary>
    public static Action<Socket> Silent { get; } = Drain;

    /// <summary>Reads the MPA Request, then sends <paramref name="answer"/>'s bytes and runs <paramref name="after"/>.</summary>
    public static Action<Socket> Mpa(Func<MpaStartFrame, byte[]> answer, Action<Socket>? after = null) => socket =>
    {
        MpaStartFrame request = ReadStartFrame(socket);
        socket.Send(answer(request));
        (after ?? Drain)(socket);
    };

    public static byte[] Encode(in MpaStartFrame frame)
    {
        byte[] bytes = new byte[frame.EncodedLength];
        frame.Write(bytes);
        return bytes;
    }

    public static MpaStartFrame ReadStartFrame(Socket socket)
    {
        byte[] buffer = new byte[20 + 512];
        int have = 0;
        while (true)
        {
            OperationStatus status = MpaStartFrame.TryRead(buffer.AsSpan(0, have), MpaLimits.Rfc, out MpaStartFrame frame, out _, out var error);
            if (status == OperationStatus.Done)
            {
                return frame;
            }
            if (status == OperationStatus.InvalidData)
            {
                throw new IOException($"not an MPA start frame: {error.Message}");
            }
            int n = socket.Receive(buffer, have, buffer.Length - have, SocketFlags.None);
            if (n == 0)
            {
                throw new IOException("closed before the MPA Request was complete");
            }
            have += n;
        }
    }

    public static void Drain(Socket socket)
    {
        byte[] sink = new byte[4096];
        while (socket.Receive(sink) > 0)
        {
        }
    }

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Stop();
        _accepting.Wait(TimeSpan.FromSeconds(5));
        lock (_sockets)
        {
            foreach (Socket socket in _sockets)
            {
                socket.Dispose();
            }
        }
        _stop.Dispose();
    }
}
