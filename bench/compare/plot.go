package compare

import (
	"fmt"
	"image/color"
	"math"
	"runtime"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

var lineColors = []color.Color{color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff}, color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}, color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff}}

// Plot draws every client's floor-removed error against time (synchronised
// samples only) on one figure, as a PNG.
func Plot(r *Run, path string) error {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("%s: estimate − truth (emulation floor removed)", r.Scenario.Name)
	p.X.Label.Text = "time since start (s)"
	p.Y.Label.Text = "error (µs)"
	p.Add(plotter.NewGrid())
	for i, c := range r.Clients {
		floor := Summarise(c, 0).FloorNs
		if math.IsNaN(floor) {
			floor = 0
		}
		var pts plotter.XYs
		for _, s := range c.Samples {
			if s.Usable {
				pts = append(pts, plotter.XY{X: float64(s.ElapsedNs) / 1e9, Y: (float64(s.ErrNs) - floor) / 1e3})
			}
		}
		if len(pts) == 0 {
			continue
		}
		l, err := plotter.NewLine(pts)
		if err != nil {
			return fmt.Errorf("plot %s: %w", c.Name, err)
		}
		l.Color = lineColors[i%len(lineColors)]
		p.Add(l)
		p.Legend.Add(c.Name, l)
	}
	p.Legend.Top = true
	if err := p.Save(8*vg.Inch, 4*vg.Inch, path); err != nil {
		return fmt.Errorf("plot %s: %w", path, err)
	}
	return nil
}

func numCPU() int { return runtime.NumCPU() }
