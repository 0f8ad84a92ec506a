using System.Runtime.InteropServices;

namespace RdmaDiag.Native;

// Mirrors of <rdma/rdma_cma.h> (rdma-core 44, LP64); proven by StructLayoutTests like the verbs ones.
internal static unsafe partial class Interop
{
    internal static unsafe partial class RdmaCm
    {
        private const string Header = "rdma/rdma_cma.h";

        [CType("struct rdma_event_channel", Header)]
        [StructLayout(LayoutKind.Explicit, Size = 4)]
        internal struct rdma_event_channel
        {
            [FieldOffset(0)] public int fd;
        }

        /// <summary>
        /// route.addr.src_storage / dst_storage are the sockaddr_storage arms of the unions that
        /// rdma_get_local_addr / rdma_get_peer_addr (static inline) return pointers into.
        /// </summary>
        [CType("struct rdma_cm_id", Header)]
        [StructLayout(LayoutKind.Explicit, Size = 416)]
        internal struct rdma_cm_id
        {
            [FieldOffset(0)] public IbVerbs.ibv_context* verbs;
            [FieldOffset(8)] public rdma_event_channel* channel;
            [FieldOffset(16)] public void* context;
            [FieldOffset(24)] public IbVerbs.ibv_qp* qp;
            [CField("route.addr.src_storage")]
            [FieldOffset(32)] public fixed byte route_addr_src_storage[128];
            [CField("route.addr.dst_storage")]
            [FieldOffset(160)] public fixed byte route_addr_dst_storage[128];
            [FieldOffset(344)] public int ps;
            [FieldOffset(348)] public byte port_num;
            [FieldOffset(368)] public IbVerbs.ibv_cq* send_cq;
            [FieldOffset(384)] public IbVerbs.ibv_cq* recv_cq;
            [FieldOffset(400)] public IbVerbs.ibv_pd* pd;
            [FieldOffset(408)] public int qp_type;
        }

        [CType("struct rdma_conn_param", Header)]
        [StructLayout(LayoutKind.Explicit, Size = 24)]
        internal struct rdma_conn_param
        {
            [FieldOffset(0)] public void* private_data;
            [FieldOffset(8)] public byte private_data_len;
            [FieldOffset(9)] public byte responder_resources;
            [FieldOffset(10)] public byte initiator_depth;
            [FieldOffset(11)] public byte flow_control;
            [FieldOffset(12)] public byte retry_count;
            [FieldOffset(13)] public byte rnr_retry_count;
            [FieldOffset(14)] public byte srq;
            [FieldOffset(16)] public uint qp_num;
        }

        [CType("struct rdma_cm_event", Header)]
        [StructLayout(LayoutKind.Explicit, Size = 80)]
        internal struct rdma_cm_event
        {
            [FieldOffset(0)] public rdma_cm_id* id;
            [FieldOffset(8)] public rdma_cm_id* listen_id;
            [FieldOffset(16)] public int @event;
            [FieldOffset(20)] public int status;
            [CField("param.conn.private_data")]
            [FieldOffset(24)] public void* param_conn_private_data;
            [CField("param.conn.private_data_len")]
            [FieldOffset(32)] public byte param_conn_private_data_len;
            [CField("param.conn.responder_resources")]
            [FieldOffset(33)] public byte param_conn_responder_resources;
            [CField("param.conn.initiator_depth")]
            [FieldOffset(34)] public byte param_conn_initiator_depth;
            [CField("param.conn.flow_control")]
            [FieldOffset(35)] public byte param_conn_flow_control;
            [CField("param.conn.retry_count")]
            [FieldOffset(36)] public byte param_conn_retry_count;
            [CField("param.conn.rnr_retry_count")]
            [FieldOffset(37)] public byte param_conn_rnr_retry_count;
            [CField("param.conn.srq")]
            [FieldOffset(38)] public byte param_conn_srq;
            [CField("param.conn.qp_num")]
            [FieldOffset(40)] public uint param_conn_qp_num;
        }

        /// <summary>The IPv4 arm of the sockaddr unions in rdma_addr (Linux: sa_family is host order).</summary>
        [CType("struct sockaddr_in", "netinet/in.h")]
        [StructLayout(LayoutKind.Explicit, Size = 16)]
        internal struct sockaddr_in
        {
            [FieldOffset(0)] public ushort sin_family;
            /// <summary>Network byte order.</summary>
            [FieldOffset(2)] public ushort sin_port;
            [FieldOffset(4)] public uint sin_addr;
        }

        [CType("struct sockaddr_in6", "netinet/in.h")]
        [StructLayout(LayoutKind.Explicit, Size = 28)]
        internal struct sockaddr_in6
        {
            [FieldOffset(0)] public ushort sin6_family;
            [FieldOffset(2)] public ushort sin6_port;
            [FieldOffset(4)] public uint sin6_flowinfo;
            [FieldOffset(8)] public fixed byte sin6_addr[16];
            [FieldOffset(24)] public uint sin6_scope_id;
        }
    }
}
