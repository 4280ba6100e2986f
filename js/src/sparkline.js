// A sparkline of the last metabolism samples: flow as a soft filled line,
// pressure as a thin line over it (scaled 0-100).

/** Points [x, y] in a w x h box for values scaled to `top` (y grows downward). */
export function sparkPoints(values, width, height, top, pad = 2) {
  const n = values.length;
  if (n === 0) return [];
  const span = Math.max(1, n - 1);
  const scale = top > 0 ? top : 1;
  return values.map((value, i) => {
    const v = Math.min(1, Math.max(0, (Number(value) || 0) / scale));
    return [pad + ((width - 2 * pad) * i) / span, height - pad - (height - 2 * pad) * v];
  });
}

export function drawSparkline(canvas, samples) {
  const ratio = Math.min(2, globalThis.devicePixelRatio || 1);
  const width = Math.max(1, Math.round((canvas.clientWidth || 160) * ratio));
  const height = Math.max(1, Math.round((canvas.clientHeight || 28) * ratio));
  if (canvas.width !== width || canvas.height !== height) {
    canvas.width = width;
    canvas.height = height;
  }
  const ctx = canvas.getContext("2d");
  if (!ctx) return;
  ctx.clearRect(0, 0, width, height);
  ctx.strokeStyle = "rgba(138,138,160,0.18)";
  ctx.lineWidth = ratio;
  ctx.beginPath();
  ctx.moveTo(0, height - ratio);
  ctx.lineTo(width, height - ratio);
  ctx.stroke();
  if (samples.length < 2) return;

  const flows = samples.map((s) => s.flow);
  const top = Math.max(1, ...flows) * 1.15;
  const points = sparkPoints(flows, width, height, top, 2 * ratio);
  ctx.beginPath();
  ctx.moveTo(points[0][0], height);
  for (const [x, y] of points) ctx.lineTo(x, y);
  ctx.lineTo(points[points.length - 1][0], height);
  ctx.closePath();
  ctx.fillStyle = "rgba(230,163,82,0.16)";
  ctx.fill();
  ctx.beginPath();
  points.forEach(([x, y], i) => (i ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
  ctx.strokeStyle = "#e6a352";
  ctx.lineWidth = 1.5 * ratio;
  ctx.stroke();

  const pressure = sparkPoints(samples.map((s) => s.pressure), width, height, 100, 2 * ratio);
  ctx.beginPath();
  pressure.forEach(([x, y], i) => (i ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
  ctx.strokeStyle = "rgba(201,123,132,0.8)";
  ctx.lineWidth = ratio;
  ctx.stroke();
}
