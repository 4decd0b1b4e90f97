// Fulfils orders: each queue message `{order_id, total_cents}` marks its order `fulfilled`.
// A message whose update fails is retried by the queue (and not acknowledged).
export default {
  async queue(batch, env) {
    for (const message of batch.messages) {
      const { order_id } = message.body ?? {};
      if (typeof order_id !== "string") {
        // Malformed: retrying cannot help, so drop it.
        message.ack();
        continue;
      }
      try {
        await env.DB.prepare("UPDATE orders SET status = 'fulfilled' WHERE id = ?").bind(order_id).run();
        message.ack();
      } catch (err) {
        console.error(`order ${order_id}: ${err}`);
        message.retry();
      }
    }
  },
};
