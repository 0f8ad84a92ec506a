using System.Net;
using RdmaDiag.Endpoint;

namespace RdmaDiag.Verbs;

/// <summary>
/// How a client (check) reaches a server: through the userspace endpoint or through rdma_cm. Both go
/// in two steps, so a protocol's client half can register memory and post receives in between:
/// <code>
///   using IRdmaTransport transport = connector.Prepare(target);
///   var probe = new ProbeClient(transport, timeout);      // or new RpingClient(transport, size)
///   string inForce = connector.Connect(transport);
/// </code>
/// Failures are the soft endpoint's <see cref="IwarpException"/> kinds on both; the verbs connector also
/// throws <see cref="VerbsUnavailableException"/> from <see cref="Prepare"/> when this host cannot do RDMA.
/// </summary>
public abstract class ClientConnector
{
    /// <summary>"soft" or "verbs".</summary>
    public abstract string Name { get; }

    /// <summary>The userspace endpoint with <paramref name="setup"/> and MPA Request private data.</summary>
    public static ClientConnector Soft(IwarpSetupOptions setup, ReadOnlyMemory<byte> privateData = default, IwarpConnectionOptions? options = null) =>
        new SoftConnector(setup, privateData, options);

    /// <summary>rdma_cm on this host's RDMA device.</summary>
    public static ClientConnector Verbs(VerbsOptions? options = null) => new VerbsConnector(options ?? VerbsOptions.Default);

    /// <summary>A transport toward <paramref name="target"/>, not yet connected (verbs: address and route resolved, QP made).</summary>
    public abstract IRdmaTransport Prepare(IPEndPoint target);

    /// <summary>Connects a transport from <see cref="Prepare"/>; returns what the connection runs with, for evidence and logs.</summary>
    public abstract string Connect(IRdmaTransport transport, CancellationToken cancellationToken = default);

    private sealed class SoftConnector(IwarpSetupOptions setup, ReadOnlyMemory<byte> privateData, IwarpConnectionOptions? options) : ClientConnector
    {
        private readonly System.Runtime.CompilerServices.ConditionalWeakTable<SoftTransport, IPEndPoint> _targets = [];

        public override string Name => "soft";

        public override IRdmaTransport Prepare(IPEndPoint target)
        {
            var transport = new SoftTransport(new IwarpConnection(options));
            _targets.Add(transport, target);
            return transport;
        }

        public override string Connect(IRdmaTransport transport, CancellationToken cancellationToken = default)
        {
            if (transport is not SoftTransport soft || !_targets.TryGetValue(soft, out IPEndPoint? target))
            {
                throw new ArgumentException("the transport was not prepared by this connector", nameof(transport));
            }
            NegotiatedParameters negotiated = soft.Connection.Connect(target, setup, privateData, cancellationToken);
            return (soft.Connection.Parameters ?? negotiated).ToString();
        }
    }

    private sealed class VerbsConnector(VerbsOptions options) : ClientConnector
    {
        public override string Name => "verbs";

        public override IRdmaTransport Prepare(IPEndPoint target) => VerbsConnection.Create(target, options);

        public override string Connect(IRdmaTransport transport, CancellationToken cancellationToken = default) =>
            transport is VerbsConnection connection
                ? connection.Connect(cancellationToken).ToString()
                : throw new ArgumentException("the transport was not prepared by this connector", nameof(transport));
    }
}
